"""The local LAN failover planner: a table of situations, then properties over many."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.lanswitch import Move, apply, plan

P = ("eth0", "eth1")  # primaries: lan, heartbeat
S = ("eth2", "eth3")  # standbys


def up(*names: str) -> dict[str, bool]:
    return {n: n in names for n in (*P, *S)}


ALL = ("eth0", "eth1", "eth2", "eth3")


@pytest.mark.parametrize(
    ("links", "carrying", "serves", "expected"),
    [
        pytest.param(up(*ALL), {}, None, [], id="all up: nothing"),
        pytest.param(
            up("eth1", "eth2", "eth3"),
            {},
            None,
            [Move("eth0", "eth0", "eth2", "eth0 link down")],
            id="primary down: first standby",
        ),
        pytest.param(
            up("eth1", "eth3"),
            {},
            None,
            [Move("eth0", "eth0", "eth3", "eth0 link down")],
            id="first standby down too: the next one",
        ),
        pytest.param(
            up("eth2", "eth3"),
            {},
            None,
            [
                Move("eth0", "eth0", "eth2", "eth0 link down"),
                Move("eth1", "eth1", "eth3", "eth1 link down"),
            ],
            id="both primaries down: one standby each, in order",
        ),
        pytest.param(
            up("eth2"),
            {},
            None,
            [Move("eth0", "eth0", "eth2", "eth0 link down")],
            id="one standby for two: the first primary gets it",
        ),
        pytest.param(
            up(*ALL),
            {"eth2": "eth0"},
            None,
            [Move("eth0", "eth2", "eth0", "eth0 link up again")],
            id="primary back: home",
        ),
        pytest.param(up("eth1", "eth2", "eth3"), {"eth2": "eth0"}, None, [], id="carried: stays"),
        pytest.param(
            up("eth1", "eth3"),
            {"eth2": "eth0"},
            None,
            [Move("eth0", "eth2", "eth3", "eth2 (carrying eth0) down")],
            id="carrying standby fails: the next standby",
        ),
        pytest.param(up("eth1"), {"eth2": "eth0"}, None, [], id="nowhere better: stays"),
        pytest.param(up("eth1"), {}, None, [], id="no standby up: nothing"),
        pytest.param(
            up("eth0", "eth2"),
            {"eth2": "eth0"},
            None,
            [
                Move("eth0", "eth2", "eth0", "eth0 link up again"),
                Move("eth1", "eth1", "eth2", "eth1 link down"),
            ],
            id="a standby freed by a return serves another primary",
        ),
        pytest.param(
            up("eth1", "eth2", "eth3"),
            {},
            {"eth2": frozenset({"eth1"}), "eth3": frozenset({"eth0"})},
            [Move("eth0", "eth0", "eth3", "eth0 link down")],
            id="only a standby bridged to the primary's network",
        ),
        pytest.param(
            up("eth1", "eth2"),
            {},
            {"eth2": frozenset({"eth1"})},
            [],
            id="no standby bridged: nothing",
        ),
        pytest.param(
            up("eth1", "eth2"),
            {},
            {"eth3": frozenset()},
            [Move("eth0", "eth0", "eth2", "eth0 link down")],
            id="a standby never measured serves any",
        ),
    ],
)
def test_plan(
    links: dict[str, bool],
    carrying: dict[str, str],
    serves: dict[str, frozenset[str]] | None,
    expected: list[Move],
) -> None:
    assert plan(P, S, links, carrying, serves) == expected


def test_apply_follows_the_moves() -> None:
    moves = [Move("eth0", "eth2", "eth0", ""), Move("eth1", "eth1", "eth2", "")]
    assert apply({"eth2": "eth0"}, moves) == {"eth2": "eth1"}


states = st.fixed_dictionaries({n: st.booleans() for n in ALL})
Situation = tuple[dict[str, bool], dict[str, str], dict[str, frozenset[str]]]


@st.composite
def situations(draw: st.DrawFn) -> Situation:
    links = draw(states)
    carrying: dict[str, str] = {}
    for standby in S:
        left = [p for p in P if p not in carrying.values()]
        choice = draw(st.sampled_from([None, *left]))
        if choice is not None:
            carrying[standby] = choice
    serves = {s: frozenset(draw(st.sets(st.sampled_from(P)))) for s in S if draw(st.booleans())}
    return links, carrying, serves


@settings(max_examples=400, deadline=None)
@given(situations())
def test_properties(situation: Situation) -> None:
    links, carrying, serves = situation
    moves = plan(P, S, links, carrying, serves)
    after = apply(carrying, moves)
    # One standby carries one primary; every primary sits in one place.
    assert len(set(after.values())) == len(after)
    for move in moves:
        assert links[move.target], "a move goes only to a link that is up"
        if move.target != move.primary:
            assert move.primary in serves.get(move.target, frozenset(P))
    for primary in P:
        if links[primary]:
            assert primary not in after.values(), "a primary that is up carries its own"
        elif primary not in after.values():
            # Left at home on a failed link: no standby was free for it.
            free = [
                s
                for s in S
                if links[s] and s not in after and primary in serves.get(s, frozenset(P))
            ]
            assert not free
    # Stable: once moved, the same links ask for nothing more.
    assert plan(P, S, links, after, serves) == []
