"""The quorum server core: per-cluster acceptor, grants, persist before reply."""

import asyncio
from dataclasses import replace
from pathlib import Path
from random import Random

import pytest

from cluster.core.effects import Effect, Note, Persist, Persisted, QuorumDurable, Received, Send
from cluster.core.messages import (
    Accept,
    AcceptReply,
    Ballot,
    Learn,
    Membership,
    Message,
    Prepare,
    PrepareReply,
    QsState,
    QuorumPing,
    QuorumPong,
)
from cluster.core.quorum import QuorumServer, Verdict, judge
from cluster.errors import CmError, NotAuthorized
from cluster.quorum.service import QuorumService
from cluster.transport.quorum import Roster

M1 = Membership(1, ("a", "b"), "a")
B = Ballot(1, "a")


def server(now: int = 0, durable: QuorumDurable | None = None, seed: int = 1) -> QuorumServer:
    qs = QuorumServer(now, durable, Random(seed))
    drive(qs, qs.start(), now)
    return qs


def drive(qs: QuorumServer, effects: list[Effect], now: int) -> list[Message]:
    """Perform effects as cmqsd does: every persist done at once; the messages sent."""
    sent: list[Message] = []
    pending = list(effects)
    while pending:
        effect = pending.pop(0)
        if isinstance(effect, Persist):
            pending.extend(qs.handle(Persisted(now, effect.seq)))
        elif isinstance(effect, Send):
            sent.append(effect.message)
    return sent


def ask(qs: QuorumServer, now: int, node: str, message: Message) -> Message:
    [reply] = drive(qs, qs.handle(Received(now, node, message)), now)
    return reply


def ping(  # noqa: PLR0917
    qs: QuorumServer,
    now: int,
    cluster: str = "c1",
    epoch: int = 1,
    node: str = "a",
    known: QsState | None = None,
) -> QuorumPong:
    message = QuorumPing(cluster, epoch, 7, now - 5, ("a", "b"), known=known)
    pong = ask(qs, now, node, message)
    assert isinstance(pong, QuorumPong) and pong.echo_send_time == now - 5
    return pong


def hello(qs: QuorumServer, now: int, cluster: str = "c1") -> None:
    """Both members of M1 tell this run of the server what they saw (nothing yet)."""
    ping(qs, now, cluster, node="a")
    ping(qs, now, cluster, node="b")


def test_grants_until_it_promises_the_next_epoch() -> None:
    qs = server()
    assert not ping(qs, 10).granted  # b has not spoken to it yet
    assert ping(qs, 10, node="b").granted
    assert ping(qs, 10).granted
    hello(qs, 15, cluster="c2")
    effects = qs.handle(Received(20, "b", Prepare("c1", 2, B, M1)))
    assert [type(e) for e in effects] == [Persist]  # the reply waits for the disk
    # A ping's answer does not wait (it shows the state on disk); c2 is not affected.
    [c2] = qs.handle(Received(30, "a", QuorumPing("c2", 1, 7, 25, ("a", "b"))))
    assert isinstance(c2, Send) and isinstance(c2.message, QuorumPong) and c2.message.granted
    persist = effects[0]
    assert isinstance(persist, Persist)
    [reply] = drive(qs, qs.handle(Persisted(40, persist.seq)), 40)
    assert isinstance(reply, PrepareReply) and reply.promised
    assert reply.qs is not None and c2.message.qs is not None
    assert dict(reply.last_answered)["a"] == 20 - 10
    assert reply.unlisted_age == 20
    assert not ping(qs, 50).granted


def test_accept_and_restart_from_durable_state() -> None:
    qs = server()
    hello(qs, 1)
    value = Membership(2, ("a",), "a")
    effects = qs.handle(Received(5, "a", Prepare("c1", 2, B, M1)))
    effects += qs.handle(Received(6, "a", Accept("c1", 2, B, value, M1)))
    durable = [e.state for e in effects if isinstance(e, Persist)][-1]
    assert isinstance(durable, QuorumDurable)
    again = server(100, durable, seed=2)
    hello(again, 101)
    reply = ask(again, 101, "b", Prepare("c1", 2, Ballot(2, "b"), M1))
    assert isinstance(reply, PrepareReply)
    assert reply.accepted is not None and reply.accepted.value == value
    assert reply.unlisted_age == 1  # it answered nobody since it restarted


def test_refuses_lower_ballot_and_learns() -> None:
    qs = server()
    hello(qs, 0)
    ask(qs, 1, "a", Prepare("c1", 2, Ballot(5, "a"), M1))
    reply = ask(qs, 3, "b", Accept("c1", 2, B, Membership(2, ("b",), "b"), M1))
    assert isinstance(reply, AcceptReply) and not reply.accepted and not reply.refusal
    decided = Membership(2, ("a",), "a")
    drive(qs, qs.handle(Received(4, "a", Learn("c1", decided))), 4)
    assert qs.clusters["c1"].decided == decided
    assert ping(qs, 5, epoch=2).granted


# -- state lost, rolled back, reset (DESIGN §2, "Acceptors never forget") ---------------


def test_a_new_run_votes_only_once_every_member_spoke_to_it() -> None:
    """A restored copy may lack a promise only the silent member knows of."""
    qs = server()
    hello(qs, 0)
    durable = qs.slot("c1")
    assert durable is not None
    again = server(10, QuorumDurable((durable,)), seed=2)
    reply = ask(again, 11, "b", Prepare("c1", 2, Ballot(2, "b"), M1))
    assert isinstance(reply, PrepareReply) and not reply.promised
    assert "not yet heard since it started from a" in reply.refusal
    assert not ping(again, 12, node="b").granted
    ping(again, 13, node="a")
    reply = ask(again, 14, "b", Prepare("c1", 2, Ballot(2, "b"), M1))
    assert isinstance(reply, PrepareReply) and reply.promised


def test_no_grant_before_the_state_id_is_on_disk() -> None:
    qs = QuorumServer(0, None, Random(1))
    effects = qs.handle(Received(1, "a", QuorumPing("c1", 1, 7, 0, ("a",))))
    assert [type(e) for e in effects] == [Persist]  # the new slot's state id
    [pong] = drive(qs, effects, 2)
    assert isinstance(pong, QuorumPong) and not pong.granted and pong.qs is not None
    assert ping(qs, 3).qs == pong.qs


def test_a_pending_request_does_not_count_as_heard() -> None:
    qs = server()
    ping(qs, 0, node="b")
    busy = QuorumPing("c1", 1, 7, 0, ("a", "b"), pending=True)
    pong = ask(qs, 1, "a", busy)
    assert isinstance(pong, QuorumPong) and not pong.granted and "from a" in pong.refusal


def test_state_lost_is_refused_until_reset() -> None:
    """The state file deleted: a node that saw the old state tells the new one."""
    qs = server()
    hello(qs, 0)
    seen = ping(qs, 1).qs
    assert seen is not None
    fresh = server(10, None, seed=2)
    pong = ping(fresh, 11, node="b", known=seen)
    assert not pong.granted and "STATE" not in pong.refusal
    assert "state lost" in pong.refusal and f"saw state {seen.state_id}" in pong.refusal
    notes = [e for e in fresh.reset("c1") if isinstance(e, Note)]
    assert notes and "reset by the operator" in notes[0].text
    reopened = fresh.slot("c1")
    assert reopened is not None and not reopened.lost
    hello(fresh, 20)
    assert ping(fresh, 21, node="b", known=seen, epoch=2).granted


def test_state_rolled_back_is_refused() -> None:
    qs = server()
    hello(qs, 0)
    copy = qs.slot("c1")
    ask(qs, 1, "a", Prepare("c1", 2, B, M1))  # a newer version, seen by a
    newer = ping(qs, 2).qs
    assert copy is not None and newer is not None and copy.qs is not None
    assert newer.version > copy.qs.version
    restored = server(10, QuorumDurable((copy,)), seed=3)
    hello(restored, 11)  # b saw nothing newer than the copy: not a proof
    pong = ping(restored, 12, known=newer)  # a did
    assert not pong.granted and "state lost or rolled back" in pong.refusal
    assert not ping(restored, 13, node="b").granted  # the whole cluster is refused
    kept = restored.slot("c1")
    assert kept is not None and kept.lost  # and the mark survives a restart
    assert server(20, QuorumDurable((kept,)), seed=4).slot("c1").lost  # type: ignore[union-attr]


def test_after_a_reset_no_vote_for_an_epoch_a_node_may_have_relied_on() -> None:
    """A reset server votes for no epoch up to the one after the newest any node knew
    decided when it first spoke: a promise forgotten there cannot be contradicted."""
    qs = server()
    qs.reset("c1")
    ping(qs, 1, node="b", epoch=1)  # b is behind: it knows epoch 1
    ping(qs, 1, node="a", epoch=4)  # a knows epoch 4, and may hold a promise for 5
    m4 = Membership(4, ("a", "b"), "a")
    reply = ask(qs, 2, "b", Prepare("c1", 5, Ballot(9, "b"), m4))
    assert isinstance(reply, PrepareReply) and not reply.promised
    assert "no vote before epoch 6" in reply.refusal
    m5 = Membership(5, ("a", "b"), "a")
    ping(qs, 3, node="a", epoch=5)
    reply = ask(qs, 4, "b", Prepare("c1", 6, Ballot(9, "b"), m5))
    assert isinstance(reply, PrepareReply) and reply.promised


@pytest.mark.parametrize(
    ("known", "answer", "verdict"),
    [
        (None, QsState("x", 1), Verdict.COUNT),
        (None, QsState("x", 1, reset=1), Verdict.RESET),
        (QsState("x", 3), QsState("x", 4), Verdict.COUNT),
        (QsState("x", 4), QsState("x", 3), Verdict.STALE),
        (QsState("x", 3), QsState("y", 5, 0, (("x", 4),)), Verdict.COUNT),
        (QsState("x", 5), QsState("y", 6, 0, (("x", 4),)), Verdict.FORK),
        (QsState("y", 6, 0, (("x", 4),)), QsState("x", 3), Verdict.STALE),
        (QsState("y", 6, 0, (("x", 4),)), QsState("x", 5), Verdict.FORK),
        (QsState("x", 3), QsState("z", 9), Verdict.FORK),
        (QsState("x", 3, reset=1), QsState("z", 9), Verdict.STALE),
    ],
)
def test_which_answers_a_node_counts(
    known: QsState | None, answer: QsState, verdict: Verdict
) -> None:
    assert judge(known, answer) is verdict


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
HELLO = QuorumPing("c1", 1, 0, 1, ("a", "b"), probe=True)


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
    _ask(service, "a", AB, HELLO)
    _ask(service, "b", AB, HELLO)
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
    _ask(service, "a", AB, HELLO)
    _ask(service, "b", AB, HELLO)
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


# -- cmqsd's service: a lost state file, a reset, a cluster created again ---------------


def _pong(
    service: QuorumService, node: str, message: QuorumPing, roster: Roster = AB
) -> QuorumPong:
    [pong] = _ask(service, node, roster, message)
    assert isinstance(pong, QuorumPong)
    return pong


def test_service_refuses_a_cluster_whose_state_file_was_deleted_until_reset(
    tmp_path: Path,
) -> None:
    service = _service(tmp_path)
    _pong(service, "a", HELLO)
    seen = _pong(service, "b", HELLO).qs
    assert seen is not None
    (tmp_path / "state" / "qs.json").unlink()
    restarted = _service(tmp_path)
    told = QuorumPing("c1", 1, 0, 1, ("a", "b"), probe=True, known=seen)
    pong = _pong(restarted, "a", told)
    assert not pong.granted and "had no state for the cluster" in pong.refusal
    assert "c1" in _service(tmp_path).lost()  # persisted: a restart does not forget it
    again = _service(tmp_path)
    said = again.reset_cluster("c1")
    assert "c1: state and binding reset (it refused to vote: state lost" in said
    after = _service(tmp_path)
    assert after.lost() == {}
    _pong(after, "a", told)
    _pong(after, "b", told)
    pong = _pong(after, "a", replace(told, epoch=2))
    assert pong.granted and pong.qs is not None and pong.qs.reset == 1
    with pytest.raises(CmError, match="has no cluster c9"):
        after.reset_cluster("c9")


def test_service_refuses_a_state_file_restored_from_a_copy(tmp_path: Path) -> None:
    service = _service(tmp_path)
    _pong(service, "a", HELLO)
    _pong(service, "b", HELLO)
    copy = (tmp_path / "state" / "qs.json").read_bytes()
    _ask(service, "a", AB, Prepare("c1", 2, Ballot(1, "a"), M1))
    newer = _pong(service, "a", HELLO).qs
    (tmp_path / "state" / "qs.json").write_bytes(copy)
    restored = _service(tmp_path)
    pong = _pong(restored, "a", replace(HELLO, known=newer))
    assert not pong.granted and "state lost or rolled back" in pong.refusal


def test_a_cluster_created_again_under_its_name_is_refused_until_reset(tmp_path: Path) -> None:
    """Same name, same CA, a new cluster id: it does not inherit the old slot."""
    service = _service(tmp_path)
    old = Roster(1, ("a", "b"), "1111aaaa")
    _pong(service, "a", HELLO, old)
    new = Roster(1, ("a", "b"), "2222bbbb")
    with pytest.raises(NotAuthorized, match=r"was created again.*2222bbbb.*1111aaaa"):
        _ask(service, "a", new, HELLO)
    with pytest.raises(NotAuthorized, match="was created again"):
        _ask(_service(tmp_path), "b", new, HELLO)  # the binding is durable
    _service(tmp_path).reset_cluster("c1")
    fresh = _service(tmp_path)
    assert "no vote before epoch 3" in _pong(fresh, "a", HELLO, new).refusal  # bound anew
    with pytest.raises(NotAuthorized, match="was created again"):
        _ask(fresh, "b", old, HELLO)  # now the old one is the stranger
