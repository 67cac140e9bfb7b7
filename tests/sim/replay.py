"""Replay one seed of the mixed-fault runs, optionally printing its trace.

.venv/bin/python -m tests.sim.replay --seed 42 --trace
"""

import argparse
import sys
from pathlib import Path

from tests.sim.faults import random_plan
from tests.sim.runner import run_plan

COMMAND = ".venv/bin/python -m tests.sim.replay"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--big", action="store_true", help="the 32 to 64 node profile")
    parser.add_argument("--scenario", type=Path, help="a .scn file instead of a random mix")
    parser.add_argument("--trace", action="store_true", help="print every event")
    args = parser.parse_args(argv)
    if args.scenario:
        from tests.sim.scenario import parse

        plan = parse(args.scenario).plan
    else:
        plan = random_plan(args.seed, big=args.big)
    print(f"seed {args.seed}: {plan.label}")
    for at, action in plan.actions:
        print(f"  at {at / 1e6:10.3f}ms  {action}")
    result = run_plan(plan, args.seed, trace=args.trace)
    for line in result.violations:
        print(f"VIOLATION {line}")
    if result.ok and result.converged_after is not None:
        print(
            f"ok: gathered {result.converged_after / 1e6:.0f} ms after the heal, "
            f"{result.epochs} epochs, {result.seconds:.2f} s"
        )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
