"""The quorum server core: per-cluster acceptor, grants, persist before reply."""

import asyncio
from pathlib import Path

import pytest

from cluster.core.effects import Persist, Persisted, QuorumDurable, Received, Send
from cluster.core.messages import (
    Accept,
    AcceptReply,
    Ballot,
    Learn,
    Membership,
    Prepare,
    PrepareReply,
    QuorumPing,
    QuorumPong,
)
from cluster.core.quorum import QuorumServer
from cluster.errors import CmError, NotAuthorized
from cluster.quorum.service import QuorumService
from cluster.transport.quorum import Roster

M1 = Membership(1, ("a", "b"), "a")
B = Ballot(1, "a")


def ping(qs: QuorumServer, now: int, cluster: str = "c1", epoch: int = 1) -> QuorumPong:
    effects = qs.handle(Received(now, "a", QuorumPing(cluster, epoch, 7, now - 5)))
    [send] = effects
    assert isinstance(send, Send) and isinstance(send.message, QuorumPong)
    assert send.message.echo_send_time == now - 5
    return send.message


def test_grants_until_it_promises_the_next_epoch() -> None:
    qs = QuorumServer(now=0)
    assert ping(qs, 10).granted
    effects = qs.handle(Received(20, "b", Prepare("c1", 2, B, M1)))
    assert [type(e) for e in effects] == [Persist]  # the reply waits for the disk
    assert not ping(qs, 30).granted
    assert ping(qs, 30, cluster="c2").granted  # other clusters are not affected
    persist = effects[0]
    assert isinstance(persist, Persist)
    [reply] = qs.handle(Persisted(40, persist.seq))
    assert isinstance(reply, Send) and reply.to == "b"
    message = reply.message
    assert isinstance(message, PrepareReply) and message.promised
    assert dict(message.last_answered)["a"] == 20 - 10
    assert message.unlisted_age == 20


def test_accept_and_restart_from_durable_state() -> None:
    qs = QuorumServer(now=0)
    value = Membership(2, ("a",), "a")
    effects = qs.handle(Received(5, "a", Prepare("c1", 2, B, M1)))
    effects += qs.handle(Received(6, "a", Accept("c1", 2, B, value, M1)))
    durable = [e.state for e in effects if isinstance(e, Persist)][-1]
    assert isinstance(durable, QuorumDurable)
    again = QuorumServer(now=100, durable=durable)
    effects = again.handle(Received(101, "b", Prepare("c1", 2, Ballot(2, "b"), M1)))
    effects += again.handle(Persisted(102, 1))
    [reply] = [e for e in effects if isinstance(e, Send)]
    assert isinstance(reply.message, PrepareReply)
    assert reply.message.accepted is not None and reply.message.accepted.value == value
    assert reply.message.unlisted_age == 1  # it answered nobody since it restarted


def test_refuses_lower_ballot_and_learns() -> None:
    qs = QuorumServer(now=0)
    effects = qs.handle(Received(1, "a", Prepare("c1", 2, Ballot(5, "a"), M1)))
    effects += qs.handle(Persisted(2, 1))
    effects += qs.handle(Received(3, "b", Accept("c1", 2, B, Membership(2, ("b",), "b"), M1)))
    replies = [e.message for e in effects if isinstance(e, Send)]
    assert isinstance(replies[-1], AcceptReply) and not replies[-1].accepted
    decided = Membership(2, ("a",), "a")
    qs.handle(Received(4, "a", Learn("c1", decided)))
    assert qs.clusters["c1"].decided == decided
    assert ping(qs, 5, epoch=2).granted


def test_service_binds_a_cluster_before_any_promise_on_a_fresh_root(tmp_path: Path) -> None:
    """A fresh quorum server's first message may be a ping or a Learn, not a Prepare:
    binding the cluster to its CA must not need the state directory to exist yet."""
    state = tmp_path / "var" / "lib" / "cmcluster"
    service = QuorumService(state / "qs.json", state / "qs-clusters.json")
    learn = Learn("c1", M1)
    asyncio.run(service.exchange("a", "CA-ONE", "c1", AB, learn))
    assert service.clusters() == ["c1"]
    again = QuorumService(state / "qs.json", state / "qs-clusters.json")
    assert again.clusters() == ["c1"]
    with pytest.raises(NotAuthorized, match="belongs to another CA"):
        asyncio.run(again.exchange("a", "CA-TWO", "c1", AB, learn))


AB = Roster(1, ("a", "b"))


def _service(tmp_path: Path) -> QuorumService:
    state = tmp_path / "state"
    return QuorumService(state / "qs.json", state / "qs-clusters.json")


def _ask(service: QuorumService, node: str, roster: Roster, message: object) -> list[object]:
    return list(asyncio.run(service.exchange(node, "CA", "c1", roster, message)))  # type: ignore[arg-type]


def test_only_nodes_of_the_known_configuration_are_answered(tmp_path: Path) -> None:
    """A CA-signed node certificate outside the configuration cannot vote, even when it
    presents a configuration that names it."""
    service = _service(tmp_path)
    _ask(service, "a", AB, QuorumPing("c1", 1, 1, 1))
    with pytest.raises(NotAuthorized, match="node z is not a node of cluster c1"):
        _ask(service, "z", Roster(9, ("a", "b", "z")), Prepare("c1", 2, Ballot(1 << 40, "z"), M1))
    with pytest.raises(NotAuthorized, match="does not name it"):
        _ask(service, "z", AB, QuorumPing("c1", 1, 1, 1))
    # Nothing was promised: a member's ballot is still promised.
    replies = _ask(service, "b", AB, Prepare("c1", 2, Ballot(1, "b"), M1))
    assert any(isinstance(r, PrepareReply) and r.promised for r in replies)


def test_a_newer_configuration_comes_from_a_node_of_the_known_one(tmp_path: Path) -> None:
    service = _service(tmp_path)
    _ask(service, "a", AB, QuorumPing("c1", 1, 1, 1))
    with pytest.raises(NotAuthorized, match="node c is not a node of cluster c1"):
        _ask(service, "c", Roster(2, ("a", "c")), QuorumPing("c1", 1, 1, 1))
    _ask(service, "a", Roster(2, ("a", "c")), QuorumPing("c1", 1, 1, 1))  # a announces it
    _ask(service, "c", Roster(2, ("a", "c")), QuorumPing("c1", 1, 1, 1))
    with pytest.raises(NotAuthorized, match="node b is not a node of cluster c1"):
        _ask(service, "b", AB, QuorumPing("c1", 1, 1, 1))  # removed in generation 2
    # An older presented generation does not roll the binding back.
    _ask(service, "a", AB, QuorumPing("c1", 1, 1, 1))
    with pytest.raises(NotAuthorized):
        _ask(service, "b", AB, QuorumPing("c1", 1, 1, 1))
    kept = _service(tmp_path)  # the binding is durable
    with pytest.raises(NotAuthorized):
        _ask(kept, "b", AB, QuorumPing("c1", 1, 1, 1))


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (Prepare("c1", 2, Ballot(1, "b"), M1), "proposes only its own ballots"),
        (Prepare("c1", 2, Ballot((1 << 64) - 1, "a"), M1), "beyond any proposer"),
        (Accept("c1", 2, Ballot(1, "a"), Membership(2, ("a", "z"), "a"), M1), "z, not nodes"),
    ],
)
def test_ballots_no_member_could_have_made_are_refused(
    tmp_path: Path, message: object, why: str
) -> None:
    service = _service(tmp_path)
    with pytest.raises(CmError, match=why):
        _ask(service, "a", AB, message)
    replies = _ask(service, "b", AB, Prepare("c1", 2, Ballot(1, "b"), M1))
    assert any(isinstance(r, PrepareReply) and r.promised for r in replies)


def test_a_binding_of_an_older_cmqsd_takes_its_first_roster(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "qs-clusters.json").write_text('{"c1": "CA"}')
    service = QuorumService(state / "qs.json", state / "qs-clusters.json")
    _ask(service, "a", AB, QuorumPing("c1", 1, 1, 1))
    with pytest.raises(NotAuthorized):
        _ask(service, "z", Roster(1, ("z",)), QuorumPing("c1", 1, 1, 1))
