"""The placement scenarios of scenarios/*.txt: snapshot in, decision out.

POLICY_REWRITE=1 rewrites the expected output from what the engine says now; review the
diff before committing it."""

import os
from pathlib import Path

import pytest

from tests.unit.policy.scenario import parse, rewrite, run

HERE = Path(__file__).parent / "scenarios"
FILES = sorted(HERE.glob("*.txt"))
REWRITE = os.environ.get("POLICY_REWRITE") == "1"

if REWRITE:
    for path in FILES:
        rewrite(path)

CASES = [
    pytest.param(path, scenario, id=f"{path.stem}:{scenario.name}")
    for path in FILES
    for scenario in parse(path)
]


def test_there_are_scenarios() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(("path", "scenario"), CASES)
def test_scenario(path: Path, scenario) -> None:
    outputs = run(scenario, path)
    assert set(outputs) == set(scenario.expected)
    for line, output in outputs.items():
        assert scenario.expected[line], f"{path}:{line}: decide without expected output"
        assert output == scenario.expected[line], f"{path}:{line}: the decision differs"
