"""Each scenario file, under its own seed and a few more: expectations and invariants."""

from pathlib import Path

import pytest

from tests.sim.replay import COMMAND
from tests.sim.runner import run_plan
from tests.sim.scenario import all_scenarios, parse

EXTRA_SEEDS = range(100, 106)


@pytest.mark.parametrize("path", all_scenarios(), ids=lambda p: p.stem)
def test_scenario(path: Path) -> None:
    scenario = parse(path)
    for seed in [scenario.seed, *EXTRA_SEEDS]:
        print(f"{path.stem}: seed {seed}")
        result = run_plan(scenario.plan, seed)
        assert result.ok, (
            f"{scenario.name}\nseed {seed}: {result.violations[0]}\n"
            f"replay: {COMMAND} --scenario {path} --seed {seed} --trace"
        )


def test_every_classic_mistake_has_a_scenario() -> None:
    names = {p.stem for p in all_scenarios()}
    for needed in (
        "stale-rejoin",
        "split-2-2-no-quorum-server",
        "split-2-2-quorum-server",
        "quorum-server-down",
        "paused-coordinator",
        "duelling-proposers",
    ):
        assert needed in names
