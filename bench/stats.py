"""Figures as benchmarks print them: median and spread over several runs."""

import statistics
from collections.abc import Sequence


def summary(samples: Sequence[float], unit: str = "ms", scale: float = 1000.0) -> str:
    values = sorted(v * scale for v in samples)
    q = statistics.quantiles(values, n=4) if len(values) >= 4 else [values[0], 0, values[-1]]
    return (
        f"median {statistics.median(values):7.1f} {unit}   "
        f"IQR {q[0]:7.1f}..{q[2]:<7.1f}  min {values[0]:7.1f}  max {values[-1]:7.1f}  "
        f"(n={len(values)})"
    )
