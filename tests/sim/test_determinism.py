"""A run is a pure function of its seed: the replay command shows the failing run."""

from tests.sim.faults import apply, random_plan
from tests.sim.world import World


def trace_of(seed: int) -> list[str]:
    plan = random_plan(seed)
    world = World(plan.cfg, seed, trace=False)
    world.tracing = True  # record without printing
    lines: list[str] = []
    world.trace = lambda text: lines.append(f"{world.now} {text}")  # type: ignore[method-assign]
    for at, action in plan.actions:
        world.at(at, apply, world, action)
    world.run_until(plan.heal_at + plan.cfg.timing.member_timeout)
    return lines


def test_same_seed_same_run() -> None:
    for seed in (3, 11):
        print(f"seed {seed}")
        first, second = trace_of(seed), trace_of(seed)
        assert any("learned epoch" in line for line in first)
        assert first == second


def test_different_seeds_differ() -> None:
    assert trace_of(1) != trace_of(2)
