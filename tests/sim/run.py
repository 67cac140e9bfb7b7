"""Run many seeds of mixed faults: `make sim SEEDS=N`, and the library the tests use.

.venv/bin/python -m tests.sim.run --seeds 2000 [--start 0] [--big 3] [--workers 2]
"""

import argparse
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from tests.sim.faults import random_plan
from tests.sim.replay import COMMAND
from tests.sim.runner import Result, run_plan


def run_seed(seed: int, big: bool = False) -> Result:
    return run_plan(random_plan(seed, big=big), seed)


def _run_big(seed: int) -> Result:
    return run_seed(seed, big=True)


def run_seeds(seeds: Iterable[int], big: bool = False, workers: int | None = None) -> list[Result]:
    """Run seeds on `workers` processes (default: every core); results in seed order."""
    seeds = list(seeds)
    workers = workers or os.cpu_count() or 1
    fn = _run_big if big else run_seed
    if workers == 1 or len(seeds) == 1:
        return [fn(s) for s in seeds]
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        return list(pool.map(fn, seeds, chunksize=max(1, len(seeds) // (8 * workers))))


def replay_command(result: Result, big: bool = False) -> str:
    return result.replay_hint(COMMAND + (" --big" if big else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--big", type=int, default=0, help="also run this many 32-64 node seeds")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run_seeds(range(args.start, args.start + args.seeds), workers=args.workers)
    big = run_seeds(range(args.big), big=True, workers=args.workers) if args.big else []
    failed = [r for r in results if not r.ok] + [r for r in big if not r.ok]
    for r in failed:
        hint = replay_command(r, big=r in big)
        print(f"FAIL {hint}\n     {r.violations[0]}")
    gathered = sorted(r.converged_after for r in results + big if r.converged_after is not None)
    handovers = sum(r.handovers for r in results + big)
    print(
        f"{len(results)} seeds from {args.start} and {len(big)} big seeds: "
        f"{len(failed)} failed, {handovers} token handovers checked, "
        f"slowest gathering after heal {gathered[-1] / 1e9 if gathered else 0:.1f} s, "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
