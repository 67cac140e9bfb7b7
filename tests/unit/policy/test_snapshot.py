"""The snapshot refuses what the coordinator could only build by mistake; decisions
carry the epoch; the scenario files can be rewritten without changing them."""

import shutil
from pathlib import Path

import pytest

from cluster.core.policy import decide
from cluster.core.policy_model import (
    ActionKind,
    Condition,
    Dependency,
    Instance,
    PackageSpec,
    PackageState,
    RunRequest,
    Snapshot,
)
from tests.unit.policy.scenario import rewrite


def snapshot(*specs: PackageSpec, **changes: object) -> Snapshot:
    fields: dict[str, object] = {
        "epoch": 7,
        "members": ("a", "b"),
        "coordinator": "a",
        "nodes": ("a", "b", "c"),
        "packages": specs,
        "states": tuple(PackageState(s.name) for s in specs),
        "released": frozenset({"c"}),
    }
    fields.update(changes)
    return Snapshot(**fields)  # type: ignore[arg-type]


def test_actions_carry_the_epoch_and_the_summary_names_it() -> None:
    decision = decide(snapshot(PackageSpec("pkg1", ("a", "b")), PackageSpec("pkg2", ("b",))))
    assert [(a.kind, a.package, a.node, a.epoch) for a in decision.actions] == [
        (ActionKind.START, "pkg1", "a", 7),
        (ActionKind.START, "pkg2", "b", 7),
    ]
    assert decision.summary == "epoch 7: start pkg1 on a, start pkg2 on b."


def test_many_waiting_packages_keep_the_summary_one_short_sentence() -> None:
    specs = [PackageSpec(f"pkg{i}", ("c",)) for i in range(6)]
    decision = decide(snapshot(*specs, released=frozenset()))
    assert len(decision.waits) == 6
    assert decision.summary.endswith("; 3 more packages wait.")
    assert decision.summary.count(".") == 1


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"members": ("a", "x")}, "not configured"),
        ({"coordinator": "c"}, "coordinator c is not a member"),
        ({"halting": frozenset({"c"})}, "not members"),
        ({"released": frozenset({"a"})}, "are released"),
        ({"states": ()}, "specs and states differ"),
        (
            {"states": (PackageState("p", (Instance("a"), Instance("a"))),)},
            "reports a node twice",
        ),
    ],
)
def test_inconsistent_snapshots_are_refused(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        snapshot(PackageSpec("p", ("a", "b")), **changes)


def test_dependency_mistakes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown package nosuch"):
        snapshot(PackageSpec("p", ("a",), dependencies=(Dependency("nosuch"),)))
    with pytest.raises(ValueError, match="depends on itself"):
        snapshot(PackageSpec("p", ("a",), dependencies=(Dependency("p", Condition.DOWN),)))
    with pytest.raises(ValueError, match="cycle p1 -> p2 -> p3 -> p1"):
        snapshot(
            PackageSpec("p1", ("a",), dependencies=(Dependency("p2"),)),
            PackageSpec("p2", ("a",), dependencies=(Dependency("p3"),)),
            PackageSpec("p3", ("a",), dependencies=(Dependency("p1"),)),
        )
    down_both_ways = snapshot(
        PackageSpec("p1", ("a",), dependencies=(Dependency("p2", Condition.DOWN),)),
        PackageSpec("p2", ("a",), dependencies=(Dependency("p1", Condition.DOWN),)),
    )
    assert len(decide(down_both_ways).actions) == 1


def test_an_unknown_package_in_a_request_is_refused_not_raised() -> None:
    decision = decide(snapshot(PackageSpec("p", ("a",)), requests=(RunRequest("q"),)))
    assert decision.answers[0].reason == "there is no package q"


def test_rewriting_the_scenarios_changes_nothing(tmp_path: Path) -> None:
    """The expected outputs are what the engine says (and rewriting is idempotent)."""
    for path in sorted((Path(__file__).parent / "scenarios").glob("*.txt")):
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        rewrite(copy)
        assert copy.read_text() == path.read_text(), f"{path.name} is stale"
