"""The node core driven by hand: persist ordering, pings, formation, commands."""

from random import Random

from cluster.core.effects import (
    CommandDone,
    Durable,
    Effect,
    HaltCluster,
    LeaseGained,
    MembershipDecided,
    Operator,
    Persist,
    Persisted,
    Received,
    RunCluster,
    Send,
    WakeAt,
)
from cluster.core.messages import Ballot, Intent, Membership, Ping, Pong, Prepare, PrepareReply
from cluster.core.node import MemberNode
from cluster.core.paxos import AcceptorState
from cluster.core.spec import ClusterSpec
from cluster.core.timing import MS, SECOND, Timing

T = Timing.for_member_timeout(SECOND)
SPEC = ClusterSpec("c1", ("a", "b", "c"))
M1 = Membership(1, ("a", "b", "c"), "a", 1)


def node(name: str = "b", durable: Durable | None = None) -> MemberNode:
    return MemberNode(name, SPEC, T, Random(1), now=1000 * SECOND, durable=durable)


def sends(effects: list[Effect]) -> list[Send]:
    return [e for e in effects if isinstance(e, Send)]


def pong_to(effects: list[Effect], to: str) -> Pong:
    [pong] = [s.message for s in sends(effects) if s.to == to and isinstance(s.message, Pong)]
    assert isinstance(pong, Pong)
    return pong


def test_boot_pings_every_peer_and_wakes_for_the_next() -> None:
    n = node()
    effects = n.start()
    assert {s.to for s in sends(effects)} == {"a", "c"}
    assert any(isinstance(e, WakeAt) and e.at == 1000 * SECOND + T.heartbeat for e in effects)


def test_ping_is_granted_only_by_a_member_that_promised_nothing() -> None:
    n = node(durable=Durable(M1, AcceptorState(2)))
    now = 1000 * SECOND
    pong = pong_to(n.handle(Received(now, "a", Ping(1, 1, 5, True, Intent.RUN))), "a")
    assert pong.granted and pong.echo_send_time == 5
    inactive = Ping(1, 2, 6, False, Intent.RUN)  # a restarted: no lease for it in epoch 1
    assert not pong_to(n.handle(Received(now, "a", inactive)), "a").granted
    n.handle(Received(now, "c", Prepare("c1", 2, Ballot(1, "c"), M1)))
    promised = n.handle(Received(now, "a", Ping(1, 3, 7, True, Intent.RUN)))
    assert not pong_to(promised, "a").granted


def test_promise_leaves_only_after_its_persist() -> None:
    n = node(durable=Durable(M1, AcceptorState(2)))
    now = 1000 * SECOND
    effects = n.handle(Received(now, "c", Prepare("c1", 2, Ballot(1, "c"), M1)))
    persists = [e for e in effects if isinstance(e, Persist)]
    assert len(persists) == 1 and persists[0].state.acceptor.promised == Ballot(1, "c")  # type: ignore[union-attr]
    assert not [s for s in sends(effects) if isinstance(s.message, PrepareReply)]
    effects = n.handle(Persisted(now + MS, persists[0].seq))
    [reply] = [s for s in sends(effects) if isinstance(s.message, PrepareReply)]
    assert reply.to == "c" and reply.message.promised  # type: ignore[union-attr]


def settle(n: MemberNode, effects: list[Effect], now: int) -> list[Effect]:
    """Complete every persist, as a driver would, collecting all effects."""
    seen = list(effects)
    pending = [e for e in effects if isinstance(e, Persist)]
    while pending:
        more = n.handle(Persisted(now, pending[-1].seq))
        seen += more
        pending = [e for e in more if isinstance(e, Persist)]
    return seen


def test_a_node_alone_forms_and_halts_its_one_node_cluster() -> None:
    n = MemberNode("a", ClusterSpec("solo", ("a",)), T, Random(1), now=0)
    n.start()
    seen = settle(n, n.handle(Operator(1, RunCluster())), 2)
    assert n.decided_membership().members == ("a",)
    assert any(isinstance(e, MembershipDecided) for e in seen)
    assert any(isinstance(e, LeaseGained) for e in seen)
    assert [e.ok for e in seen if isinstance(e, CommandDone)] == [True]
    assert n.active and n.holds_lease(3)
    seen = settle(n, n.handle(Operator(4, HaltCluster())), 5)
    assert n.decided_membership().members == ()
    assert n.intent is Intent.HALTED and not n.holds_lease(6)
    assert [e.ok for e in seen if isinstance(e, CommandDone)] == [True]


def test_commands_refused_with_a_reason() -> None:
    n = node(durable=Durable(M1, AcceptorState(2)))
    [done] = [
        e for e in n.handle(Operator(1000 * SECOND, HaltCluster())) if isinstance(e, CommandDone)
    ]
    assert not done.ok and "not an active member" in done.detail
    [done] = [
        e
        for e in n.handle(Operator(1000 * SECOND, RunCluster(("a", "zz"))))
        if isinstance(e, CommandDone)
    ]
    assert not done.ok and "zz" in done.detail


def test_a_lone_acceptor_decides_only_once_its_acceptance_is_durable() -> None:
    """A one-node cluster's proposer is the only acceptor: it must not count its own
    acceptance (nor act on the decision) before that acceptance is on disk. Counted at
    once, a crash before the persist completed forgot a value that had decided the epoch,
    and the restarted node decided another one for it (the simulator, seed 74473)."""
    n = MemberNode("a", ClusterSpec("solo", ("a",)), T, Random(1), now=0)
    n.start()
    effects = n.handle(Operator(1, RunCluster()))
    now = 2
    while True:
        persists = [e for e in effects if isinstance(e, Persist)]
        assert not any(isinstance(e, MembershipDecided) for e in effects)
        assert persists, "the proposal stalled"
        accepted = persists[-1].state.acceptor.accepted  # type: ignore[union-attr]
        effects = n.handle(Persisted(now, persists[-1].seq))
        now += 1
        if accepted is not None:  # the acceptance is durable only now
            break
    assert any(isinstance(e, MembershipDecided) for e in effects)
    assert n.decided_membership().members == ("a",)
