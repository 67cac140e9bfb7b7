"""The membership protocol's messages: core dataclasses <-> protobuf, both ways.

Decoding checks what the core relies on (names are valid node names, members sorted
and distinct, a coordinator among the members); a message that fails is refused with
a ProtocolError naming the field, never handed to the core half-formed.
"""

from cluster.core.messages import (
    Accept,
    Accepted,
    AcceptReply,
    Ballot,
    Decision,
    GetDecision,
    Intent,
    Learn,
    Membership,
    Message,
    Ping,
    Poll,
    PollReply,
    Pong,
    Prepare,
    PrepareReply,
    QuorumPing,
    QuorumPong,
    View,
)
from cluster.errors import FieldError
from cluster.names import node_name_problem
from cluster.pb.v1 import common_pb2
from cluster.pb.v1 import membership_pb2 as pb


class ProtocolError(FieldError):
    """A malformed protocol message from a peer."""


_INTENTS = {
    Intent.HALTED: pb.INTENT_HALTED,
    Intent.BOOTING: pb.INTENT_BOOTING,
    Intent.RUN: pb.INTENT_RUN,
    Intent.LEAVE: pb.INTENT_LEAVE,
}
_INTENTS_BACK: dict[int, Intent] = {int(v): k for k, v in _INTENTS.items()}

# ------------------------------------------------------------------------- encoding


def _ballot(b: Ballot) -> common_pb2.Ballot:
    return common_pb2.Ballot(round=b.round, proposer=b.proposer)


def _membership(m: Membership) -> common_pb2.Membership:
    return common_pb2.Membership(
        epoch=m.epoch,
        members=list(m.members),
        coordinator=m.coordinator,
        config_generation=m.generation,
    )


def _view(v: View) -> pb.View:
    return pb.View(
        hears=sorted(v.hears),
        intent=_INTENTS[v.intent],
        active=v.active,
        epoch=v.epoch,
        running=v.running,
    )


def _ages(items: tuple[tuple[str, int], ...]) -> list[pb.NodeAge]:
    return [pb.NodeAge(node_name=n, age_ns=max(0, a)) for n, a in items]


def encode(message: Message) -> pb.ProtocolMessage:
    m = message
    if isinstance(m, Ping):
        return pb.ProtocolMessage(
            ping=pb.Ping(
                epoch=m.epoch,
                seq=m.seq,
                send_time_ns=m.send_time,
                active=m.active,
                intent=_INTENTS[m.intent],
            )
        )
    if isinstance(m, Pong):
        return pb.ProtocolMessage(
            pong=pb.Pong(
                epoch=m.epoch, seq=m.seq, echo_send_time_ns=m.echo_send_time, granted=m.granted
            )
        )
    if isinstance(m, QuorumPing):
        return pb.ProtocolMessage(
            quorum_ping=pb.QuorumPing(
                cluster_name=m.cluster_name,
                epoch=m.epoch,
                seq=m.seq,
                send_time_ns=m.send_time,
                members=list(m.members),
                probe=m.probe,
            )
        )
    if isinstance(m, QuorumPong):
        return pb.ProtocolMessage(
            quorum_pong=pb.QuorumPong(
                epoch=m.epoch, seq=m.seq, echo_send_time_ns=m.echo_send_time, granted=m.granted
            )
        )
    if isinstance(m, Poll):
        return pb.ProtocolMessage(poll=pb.Poll(epoch=m.epoch, formation=list(m.formation)))
    if isinstance(m, PollReply):
        return pb.ProtocolMessage(
            poll_reply=pb.PollReply(
                epoch=m.epoch, view=_view(m.view), decided=_membership(m.decided)
            )
        )
    if isinstance(m, Prepare):
        return pb.ProtocolMessage(
            prepare=pb.Prepare(
                cluster_name=m.cluster_name,
                epoch=m.epoch,
                ballot=_ballot(m.ballot),
                previous=_membership(m.previous),
                formation=list(m.formation),
            )
        )
    if isinstance(m, PrepareReply):
        reply = pb.PrepareReply(
            epoch=m.epoch,
            ballot=_ballot(m.ballot),
            promised=m.promised,
            acceptor=m.acceptor,
            last_decided=_membership(m.last_decided),
            last_answered=_ages(m.last_answered),
            unlisted_age_ns=max(0, m.unlisted_age),
        )
        if m.promised_ballot is not None:
            reply.promised_ballot.CopyFrom(_ballot(m.promised_ballot))
        if m.accepted is not None:
            reply.accepted.CopyFrom(
                pb.Accepted(ballot=_ballot(m.accepted.ballot), value=_membership(m.accepted.value))
            )
        if m.view is not None:
            reply.view.CopyFrom(_view(m.view))
        return pb.ProtocolMessage(prepare_reply=reply)
    if isinstance(m, Accept):
        return pb.ProtocolMessage(
            accept=pb.Accept(
                cluster_name=m.cluster_name,
                epoch=m.epoch,
                ballot=_ballot(m.ballot),
                value=_membership(m.value),
                previous=_membership(m.previous),
                formation=list(m.formation),
            )
        )
    if isinstance(m, AcceptReply):
        reply_a = pb.AcceptReply(
            epoch=m.epoch,
            ballot=_ballot(m.ballot),
            accepted=m.accepted,
            last_decided=_membership(m.last_decided),
        )
        if m.promised_ballot is not None:
            reply_a.promised_ballot.CopyFrom(_ballot(m.promised_ballot))
        return pb.ProtocolMessage(accept_reply=reply_a)
    if isinstance(m, Learn):
        return pb.ProtocolMessage(
            learn=pb.Learn(
                cluster_name=m.cluster_name,
                decided=_membership(m.decided),
                takeover_waits=_ages(m.takeover_waits),
            )
        )
    if isinstance(m, GetDecision):
        return pb.ProtocolMessage(get_decision=pb.GetDecision(epoch=m.epoch))
    if isinstance(m, Decision):
        return pb.ProtocolMessage(
            decision=pb.Decision(
                decided=_membership(m.decided), takeover_waits=_ages(m.takeover_waits)
            )
        )
    raise TypeError(f"not a protocol message: {type(m).__name__}")


# ------------------------------------------------------------------------- decoding


MAX_NUMBER = 1 << 48  # epochs, rounds, generations: beyond what any member can reach


def _epoch(value: int, field: str) -> int:
    """An epoch (or round, or generation) a member could have reached: each grows by
    one per decision or attempt, so 2^48 is never reached; 2^64-1 is an attack."""
    if value >= MAX_NUMBER:
        raise ProtocolError(field, f"{value} is beyond any reachable value")
    return value


def _name(value: str, field: str) -> str:
    problem = node_name_problem(value)
    if problem:
        raise ProtocolError(field, problem)
    return value


def _names(values: object, field: str) -> tuple[str, ...]:
    return tuple(_name(v, field) for v in values)  # type: ignore[attr-defined]


def _ballot_back(b: common_pb2.Ballot, field: str) -> Ballot:
    proposer = _name(b.proposer, f"{field}.proposer") if b.proposer else ""
    return Ballot(_epoch(b.round, f"{field}.round"), proposer)


def _membership_back(m: common_pb2.Membership, field: str) -> Membership:
    members = _names(m.members, f"{field}.members")
    if list(members) != sorted(set(members)):
        raise ProtocolError(f"{field}.members", "must be sorted and distinct")
    if members and m.coordinator not in members:
        raise ProtocolError(f"{field}.coordinator", f"{m.coordinator!r} is not a member")
    if not members and m.coordinator:
        raise ProtocolError(f"{field}.coordinator", "an empty membership has no coordinator")
    return Membership(
        _epoch(m.epoch, f"{field}.epoch"),
        members,
        m.coordinator,
        _epoch(m.config_generation, f"{field}.config_generation"),
    )


def _intent_back(value: int, field: str) -> Intent:
    try:
        return _INTENTS_BACK[value]
    except KeyError:
        raise ProtocolError(field, f"unknown intent {value}") from None


def _view_back(v: pb.View, field: str) -> View:
    return View(
        frozenset(_names(v.hears, f"{field}.hears")),
        _intent_back(v.intent, f"{field}.intent"),
        v.active,
        _epoch(v.epoch, f"{field}.epoch"),
        v.running,
    )


def _ages_back(items: object, field: str) -> tuple[tuple[str, int], ...]:
    return tuple((_name(a.node_name, f"{field}.node_name"), a.age_ns) for a in items)  # type: ignore[attr-defined]


def decode(message: pb.ProtocolMessage) -> Message:
    kind = message.WhichOneof("body")
    if kind == "ping":
        p = message.ping
        return Ping(
            _epoch(p.epoch, "ping.epoch"),
            p.seq,
            p.send_time_ns,
            p.active,
            _intent_back(p.intent, "ping.intent"),
        )
    if kind == "pong":
        q = message.pong
        return Pong(_epoch(q.epoch, "pong.epoch"), q.seq, q.echo_send_time_ns, q.granted)
    if kind == "quorum_ping":
        qp = message.quorum_ping
        return QuorumPing(
            qp.cluster_name,
            _epoch(qp.epoch, "quorum_ping.epoch"),
            qp.seq,
            qp.send_time_ns,
            _names(qp.members, "quorum_ping.members"),
            qp.probe,
        )
    if kind == "quorum_pong":
        qq = message.quorum_pong
        return QuorumPong(
            _epoch(qq.epoch, "quorum_pong.epoch"), qq.seq, qq.echo_send_time_ns, qq.granted
        )
    if kind == "poll":
        return Poll(
            _epoch(message.poll.epoch, "poll.epoch"),
            _names(message.poll.formation, "poll.formation"),
        )
    if kind == "poll_reply":
        r = message.poll_reply
        return PollReply(
            _epoch(r.epoch, "poll_reply.epoch"),
            _view_back(r.view, "poll_reply.view"),
            _membership_back(r.decided, "poll_reply.decided"),
        )
    if kind == "prepare":
        pr = message.prepare
        return Prepare(
            pr.cluster_name,
            _epoch(pr.epoch, "prepare.epoch"),
            _ballot_back(pr.ballot, "prepare.ballot"),
            _membership_back(pr.previous, "prepare.previous"),
            _names(pr.formation, "prepare.formation"),
        )
    if kind == "prepare_reply":
        rr = message.prepare_reply
        return PrepareReply(
            epoch=_epoch(rr.epoch, "prepare_reply.epoch"),
            ballot=_ballot_back(rr.ballot, "prepare_reply.ballot"),
            promised=rr.promised,
            acceptor=rr.acceptor,
            promised_ballot=_ballot_back(rr.promised_ballot, "prepare_reply.promised_ballot")
            if rr.HasField("promised_ballot")
            else None,
            accepted=Accepted(
                _ballot_back(rr.accepted.ballot, "prepare_reply.accepted.ballot"),
                _membership_back(rr.accepted.value, "prepare_reply.accepted.value"),
            )
            if rr.HasField("accepted")
            else None,
            last_decided=_membership_back(rr.last_decided, "prepare_reply.last_decided"),
            view=_view_back(rr.view, "prepare_reply.view") if rr.HasField("view") else None,
            last_answered=_ages_back(rr.last_answered, "prepare_reply.last_answered"),
            unlisted_age=rr.unlisted_age_ns,
        )
    if kind == "accept":
        a = message.accept
        return Accept(
            a.cluster_name,
            _epoch(a.epoch, "accept.epoch"),
            _ballot_back(a.ballot, "accept.ballot"),
            _membership_back(a.value, "accept.value"),
            _membership_back(a.previous, "accept.previous"),
            _names(a.formation, "accept.formation"),
        )
    if kind == "accept_reply":
        ar = message.accept_reply
        return AcceptReply(
            _epoch(ar.epoch, "accept_reply.epoch"),
            _ballot_back(ar.ballot, "accept_reply.ballot"),
            ar.accepted,
            _ballot_back(ar.promised_ballot, "accept_reply.promised_ballot")
            if ar.HasField("promised_ballot")
            else None,
            _membership_back(ar.last_decided, "accept_reply.last_decided"),
        )
    if kind == "learn":
        ln = message.learn
        return Learn(
            ln.cluster_name,
            _membership_back(ln.decided, "learn.decided"),
            _ages_back(ln.takeover_waits, "learn.takeover_waits"),
        )
    if kind == "get_decision":
        return GetDecision(_epoch(message.get_decision.epoch, "get_decision.epoch"))
    if kind == "decision":
        d = message.decision
        return Decision(
            _membership_back(d.decided, "decision.decided"),
            _ages_back(d.takeover_waits, "decision.takeover_waits"),
        )
    raise ProtocolError("body", "empty protocol message")
