"""The checker has teeth: each classic mistake, planted in a copy of the protocol,
is caught by the invariants on the scenarios made for it.

Every mutation is a monkeypatch undone after its test; the seeds are fixed, so each
test is deterministic.
"""

from dataclasses import replace

import pytest

import cluster.core.node as node_module
import cluster.core.proposer as proposer_module
from cluster.core.messages import Membership, Pong
from cluster.core.node import MemberNode
from cluster.core.paxos import AcceptorState, Attempt, acceptors_for
from cluster.core.quorum import QuorumServer, Verdict
from tests.sim.runner import run_plan
from tests.sim.scenario import SCENARIOS, parse
from tests.sim.world import Host


def caught(scenario: str, seeds: range) -> list[str]:
    """Violations of the first seed that shows any, scanning `seeds` in order."""
    plan = parse(SCENARIOS / f"{scenario}.scn").plan
    for seed in seeds:
        result = run_plan(plan, seed)
        if not result.ok:
            print(f"{scenario}: seed {seed} caught: {result.violations[0]}")
            return result.violations
    return []


def test_unmutated_runs_are_clean() -> None:
    for scenario in (
        "non-transitive",
        "paused-coordinator",
        "lost-decisions",
        "quorum-server-state-lost",
        "quorum-server-rolled-back",
    ):
        assert caught(scenario, range(1, 6)) == []


def test_lease_counted_from_receive_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measuring a lease from when the answer arrived lets late answers stretch it."""
    original = MemberNode._on_pong

    def on_pong(self: MemberNode, sender: str, pong: Pong, now: int) -> None:
        original(self, sender, replace(pong, echo_send_time=now), now)

    monkeypatch.setattr(MemberNode, "_on_pong", on_pong)
    assert any("claims a lease" in v for v in caught("paused-coordinator", range(1, 4)))


def test_acceptor_keeps_granting_after_promise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AcceptorState, "grants", lambda self, e: self.epoch <= e + 1)
    assert any("after promising" in v for v in caught("paused-coordinator", range(1, 4)))


def test_takeover_without_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Taking over the moment the membership is decided runs a token twice while the
    excluded node's lease (kept by an acceptor that still hears it) lasts."""
    monkeypatch.setattr(Attempt, "lease_end_bound", lambda self, node, wait: 0)
    monkeypatch.setattr(MemberNode, "learned_at", lambda self: -(10**15))
    violations = caught("non-transitive", range(1, 11))
    assert any("token" in v and "while" in v for v in violations)


def test_majority_off_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Half of an even membership is not a quorum: both halves of a 2|2 split decide."""

    def half(
        previous: Membership, quorum_server: bool, formation: tuple[str, ...] = ()
    ) -> tuple[frozenset[str], int]:
        nodes, quorum = acceptors_for(previous, quorum_server, formation)
        return nodes, (max(1, len(nodes) // 2) if previous.members else quorum)

    monkeypatch.setattr(proposer_module, "acceptors_for", half)
    violations = caught("split-2-2-no-quorum-server", range(1, 4))
    assert any("two memberships decided" in v for v in violations)


def test_proposer_ignores_accepted_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paxos's one rule: re-propose the highest accepted value. Without it a proposer
    that missed a decision decides a second membership for the same epoch."""
    monkeypatch.setattr(Attempt, "constrained_value", lambda self: None)
    violations = caught("lost-decisions", range(1, 21))
    assert any("two memberships decided" in v for v in violations)


def test_no_guard_for_a_paused_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the guard, a paused cmcld keeps its packages past its lease."""
    monkeypatch.setattr(Host, "_guard_fires", lambda self, inc, deadline: None)
    violations = caught("paused-coordinator", range(1, 11))
    assert any("token" in v and "while" in v for v in violations)


def test_quorum_server_that_forgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quorum server that starts afresh after losing its state (no lineage check on
    either side, no waiting for the members) votes a second membership into epoch 2."""
    admit = QuorumServer._admit
    monkeypatch.setattr(
        QuorumServer, "_admit", lambda self, sender, name, known: admit(self, sender, name, None)
    )
    monkeypatch.setattr(QuorumServer, "_refusal", lambda self, cluster, epoch, voters: "")
    monkeypatch.setattr(node_module, "judge", lambda known, answer: Verdict.COUNT)
    violations = caught("quorum-server-state-lost", range(1, 4))
    assert any("two memberships decided" in v for v in violations)


def test_quorum_server_votes_before_every_member_spoke(monkeypatch: pytest.MonkeyPatch) -> None:
    """Versions alone miss a copy as new as all b ever saw: only a knows what the copy
    lacks, so a restarted server must hear a before it votes."""
    refusal = QuorumServer._refusal
    monkeypatch.setattr(
        QuorumServer,
        "_refusal",
        lambda self, cluster, epoch, voters: (
            refusal(self, cluster, epoch, voters) if cluster.lost else ""
        ),
    )
    violations = caught("quorum-server-rolled-back", range(1, 4))
    assert any("two memberships decided" in v for v in violations)
