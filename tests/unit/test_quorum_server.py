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
from cluster.errors import NotAuthorized
from cluster.quorum.service import QuorumService

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
    asyncio.run(service.exchange("a", "CA-ONE", "c1", learn))
    assert service.clusters() == ["c1"]
    again = QuorumService(state / "qs.json", state / "qs-clusters.json")
    assert again.clusters() == ["c1"]
    with pytest.raises(NotAuthorized, match="belongs to another CA"):
        asyncio.run(again.exchange("x", "CA-TWO", "c1", learn))
