"""Failover time in the simulator: from a node's crash to "takeover allowed" for it.

Usage: .venv/bin/python bench/sim.py [--seeds N] [--nodes N]

For MEMBER_TIMEOUT 1 s and the default 14 s: form a cluster, crash one node (the
coordinator in a third of the runs) at a random moment, or cut it off alive, and
measure in real simulated time until the new coordinator may start the node's
packages (its TakeoverAllowed time), and until its tokens (abstract packages) run on
other nodes again. Expected: MT plus a
heartbeat or two (detection is MT after the last answered ping, the takeover wait is
what remains of MT x (1 + rho) since the acceptors last answered), not twice MT.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from random import Random

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cluster.core.timing import MS, SECOND, Timing
from tests.sim.faults import Boot, Crash, Partition, apply, node_names
from tests.sim.world import SimConfig, World


def one_run(
    seed: int, nodes: int, timing: Timing, isolate: bool = False
) -> tuple[float, float | None, bool]:
    """(crash to takeover allowed, crash to its tokens running elsewhere or None when
    it held none, was coordinator), in seconds."""
    rng = Random(seed)
    names = node_names(nodes)
    world = World(SimConfig(names, False, timing, tokens=3), seed)
    for name in names:
        world.at(rng.randint(0, 100 * MS), apply, world, Boot(name))
    settle = 3 * timing.member_timeout
    world.run_until(settle)
    coordinator = world.decided()
    assert coordinator is not None and world.converged(set(names)), f"seed {seed}: no cluster"
    victim = coordinator.coordinator if rng.random() < 1 / 3 else rng.choice(names)
    crash_at = settle + rng.randint(0, timing.heartbeat * 3)
    world.run_until(crash_at)
    held = sorted(world.hosts[victim].agent.held)
    if isolate:  # alive but cut off: its lease must surely be over first
        apply(world, Partition((frozenset([victim]), frozenset(names) - {victim})))
    else:
        apply(world, Crash(victim))
    end = crash_at + 3 * timing.member_timeout
    restored: int | None = None
    while held and world.now < end and restored is None:
        world.run_until(world.now + MS)
        if all(world.checker.holder(t, world.now) not in (None, victim) for t in held):
            restored = world.now
    world.run_until(end)
    allowed = [real for _, _, effect, real in world.takeovers if effect.node == victim]
    assert allowed, f"seed {seed}: no takeover for {victim}"
    takeover = (min(allowed) - crash_at) / SECOND
    tokens = (restored - crash_at) / SECOND if restored is not None else None
    return takeover, tokens, victim == coordinator.coordinator


def quantiles(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
    return (
        f"median {statistics.median(values):7.3f} s  p99 {p99:7.3f} s  max {values[-1]:7.3f} s"
        f"  (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=5)
    args = parser.parse_args()
    for mt in (SECOND, 14 * SECOND):
        timing = Timing.for_member_timeout(mt)
        started = time.perf_counter()
        runs = [one_run(seed, args.nodes, timing) for seed in range(args.seeds)]
        cut = [one_run(seed, args.nodes, timing, isolate=True) for seed in range(args.seeds)]
        took = time.perf_counter() - started
        print(
            f"MEMBER_TIMEOUT {mt / SECOND:g} s (heartbeat {timing.heartbeat / SECOND:g} s), "
            f"{args.nodes} nodes, {args.seeds} seeds, {took:.1f} s of CPU:"
        )
        print(f"  crash -> takeover allowed     {quantiles([r[0] for r in runs])}")
        coord = [r[0] for r in runs if r[2]]
        if coord:
            print(f"    of which coordinator lost   {quantiles(coord)}")
        tokens = [r[1] for r in runs if r[1] is not None]
        print(f"  crash -> its tokens restarted {quantiles(tokens)}")
        print(f"  cut off -> takeover allowed   {quantiles([r[0] for r in cut])}")
        cut_tokens = [r[1] for r in cut if r[1] is not None]
        print(f"  cut off -> tokens restarted   {quantiles(cut_tokens)}")
        print(f"  in units of MT: median {statistics.median(r[0] for r in runs) * SECOND / mt:.3f}")


if __name__ == "__main__":
    main()
