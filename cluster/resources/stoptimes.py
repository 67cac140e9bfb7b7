"""Measured stop-now figures, per package: the last and the worst duration, by whom,
against which STOP_MARGIN, and whether it was clean. cmcld and the guard record them
after each stop-now; cmviewcl -v warns of a package that overran its margin or did not
stop cleanly. A report, never a reason to stop: an unreadable file is no figures."""

import json
import time
from pathlib import Path
from typing import Any

from cluster.atomicfile import write_atomic
from cluster.paths import HostPaths
from cluster.resources.stopnow import Report, ms

TIMES_VERSION = 1
MAX_TIMES = 1024  # packages remembered; the oldest measurement goes first


def times_path(paths: HostPaths) -> Path:
    return paths.state_dir / "stopnow.times.json"


def load_times(path: Path) -> dict[str, dict[str, Any]]:
    """Per package, its measured stop-now figures (empty when none were ever taken or
    the file is unreadable: figures are a report, never a reason to stop)."""
    try:
        doc = json.loads(path.read_bytes())
        packages = doc["packages"] if doc.get("version") == TIMES_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    if not isinstance(packages, dict):
        return {}
    return {str(k): v for k, v in packages.items() if isinstance(v, dict)}


def record_times(
    path: Path, report: Report, *, by: str, margin_ns: int, wall_time: float | None = None
) -> dict[str, dict[str, Any]]:
    """Keep each package's last and worst stop-now duration with the margin it had, so
    an operator sees (cmviewcl -v) a package that does not stop in time. Returns the
    figures written."""
    times = load_times(path)
    when = time.time() if wall_time is None else wall_time
    unclean = {o.package for o in report.outcomes if not o.ok}
    for package, took in report.package_times().items():
        before = times.get(package, {})
        worst = max(float(before.get("worst_ms", 0.0)), took / 1e6)
        times[package] = {
            "last_ms": round(took / 1e6, 3),
            "worst_ms": round(worst, 3),
            "count": int(before.get("count", 0)) + 1,
            "by": by,
            "when": when,
            "margin_ms": round(margin_ns / 1e6, 3),
            "clean": package not in unclean,
        }
    oldest_first = sorted(times, key=lambda p: float(times[p].get("when", 0)))
    for package in oldest_first[: max(0, len(times) - MAX_TIMES)]:
        del times[package]
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    doc = {"version": TIMES_VERSION, "packages": times}
    write_atomic(path, json.dumps(doc, indent=1).encode() + b"\n", mode=0o600)
    return times


def overruns(times: dict[str, dict[str, Any]], margin_ns: int, node: str) -> list[str]:
    """What cmviewcl -v warns of: each package whose measured stop-now here took longer
    than STOP_MARGIN now is, or was not clean."""
    lines = []
    for package, t in sorted(times.items()):
        worst = float(t.get("worst_ms", 0.0))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t.get("when", 0))))
        if margin_ns > 0 and worst * 1e6 > margin_ns:
            lines.append(
                f"the stop-now of package {package} on {node} took up to "
                f"{ms(round(worst * 1e6))}, more than STOP_MARGIN {ms(margin_ns)} "
                f"(last: {ms(round(float(t.get('last_ms', 0.0)) * 1e6))} by the "
                f"{t.get('by', '?')} at {stamp})"
            )
        elif not t.get("clean", True):
            lines.append(
                f"the last stop-now of package {package} on {node} was NOT clean "
                f"({t.get('by', '?')} at {stamp})"
            )
    return lines
