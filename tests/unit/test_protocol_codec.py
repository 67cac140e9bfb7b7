"""Every membership message survives protobuf and back, field for field.

Instances are generated from the dataclasses' own fields, so a field added to the
core but forgotten in the proto or the codec fails here, not in a running cluster."""

import dataclasses
import types
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core import messages as m
from cluster.pb.v1 import membership_pb2 as pb
from cluster.transport.protocol_codec import MAX_NUMBER, ProtocolError, decode, encode

NAMES = st.sampled_from(["n1", "n2", "node-3", "alpha"])
U64 = st.integers(min_value=0, max_value=2**62)
EPOCHS = st.integers(min_value=0, max_value=MAX_NUMBER - 1)  # epochs, rounds, generations
COUNTED = {"epoch", "round", "generation"}
# Carried by the Quorum service's QuorumRequest/QuorumReply, not by the message itself
# (test_quorum_envelope below checks them).
ENVELOPE = {"known", "pending", "qs", "refusal"}


@st.composite
def memberships(draw: st.DrawFn) -> m.Membership:
    members = tuple(sorted(draw(st.sets(NAMES, max_size=4))))
    coordinator = draw(st.sampled_from(members)) if members else ""
    return m.Membership(draw(EPOCHS), members, coordinator, draw(EPOCHS))


def strategy_for(hint: object) -> st.SearchStrategy[object]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is int:
        return U64
    if hint is bool:
        return st.booleans()
    if hint is str:
        return NAMES
    if hint is m.Membership:
        return memberships()
    if hint is m.QsState:
        return st.builds(
            m.QsState,
            st.text("0123456789abcdef", min_size=16, max_size=16),
            U64,
            U64,
            st.lists(st.tuples(st.text("0123456789abcdef", min_size=1, max_size=16), U64)).map(
                tuple
            ),
        )
    if hint is m.Intent:
        return st.sampled_from(list(m.Intent))
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(strategy_for(a) for a in args))
    if hint is type(None):
        return st.none()
    if origin is tuple and args[-1] is Ellipsis:
        if typing.get_origin(args[0]) is tuple:  # (node, age) pairs
            return st.lists(st.tuples(NAMES, U64), max_size=3, unique_by=lambda t: t[0]).map(
                lambda items: tuple(sorted(items))
            )
        return st.lists(NAMES, max_size=3, unique=True).map(lambda xs: tuple(sorted(xs)))
    if origin is frozenset:
        return st.frozensets(NAMES, max_size=3)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return instances(hint)
    raise AssertionError(f"no strategy for {hint!r}: extend this test")


def instances(cls: type) -> st.SearchStrategy[object]:
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: EPOCHS if f.name in COUNTED else strategy_for(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.name not in ENVELOPE
    }
    return st.builds(cls, **fields)


MESSAGE_TYPES = typing.get_args(m.Message)


def test_every_message_type_is_covered() -> None:
    assert len(MESSAGE_TYPES) == len(pb.ProtocolMessage.DESCRIPTOR.oneofs_by_name["body"].fields)


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.__name__)
def test_round_trip(cls: type) -> None:
    @settings(max_examples=60, deadline=None)
    @given(instances(cls))
    def check(message: m.Message) -> None:
        wire = encode(message).SerializeToString()
        assert decode(pb.ProtocolMessage.FromString(wire)) == message

    check()


def test_bad_fields_are_named() -> None:
    bad = pb.ProtocolMessage(learn=pb.Learn(cluster_name="c"))
    bad.learn.decided.members.extend(["b", "a"])
    with pytest.raises(ProtocolError, match=r"learn\.decided\.members: must be sorted"):
        decode(bad)
    bad = pb.ProtocolMessage(poll=pb.Poll(formation=["not a name"]))
    with pytest.raises(ProtocolError, match=r"poll\.formation"):
        decode(bad)
    with pytest.raises(ProtocolError, match="empty protocol message"):
        decode(pb.ProtocolMessage())


@pytest.mark.parametrize(
    "bad",
    [
        pb.ProtocolMessage(ping=pb.Ping(epoch=2**64 - 1)),
        pb.ProtocolMessage(prepare=pb.Prepare(epoch=3)),
        pb.ProtocolMessage(get_decision=pb.GetDecision(epoch=MAX_NUMBER)),
    ],
)
def test_absurd_epochs_and_rounds_are_refused(bad: pb.ProtocolMessage) -> None:
    """No member reaches 2^48 epochs or rounds; a message that claims it is an attack
    that would otherwise outbid every ballot for good."""
    if bad.HasField("prepare"):
        bad.prepare.ballot.round = 2**64 - 1
        bad.prepare.ballot.proposer = "a"
    with pytest.raises(ProtocolError, match="beyond any reachable value"):
        decode(bad)


@settings(max_examples=60, deadline=None)
@given(
    strategy_for(m.QsState | None),
    st.booleans(),
    strategy_for(m.QsState | None),
    st.text(max_size=50),
)
def test_quorum_envelope(
    known: m.QsState | None, pending: bool, state: m.QsState | None, refusal: str
) -> None:
    """What a node tells the quorum server and what the server answers from, carried by
    the Quorum service's request and reply."""
    from cluster.transport.quorum import _answers, _state, _state_back

    ping = m.QuorumPing("c1", 1, 2, 3, ("n1",), known=known, pending=pending)
    request = pb.QuorumRequest(known=_state(ping.known), pending=ping.pending)
    back = _state_back("known", request.known) if request.HasField("known") else None
    assert (back, request.pending) == (known, pending)
    pong = m.QuorumPong(1, 2, 3, False)
    reply = pb.QuorumReply(messages=[encode(pong)], state=_state(state), refusal=refusal)
    [answer] = _answers(pb.QuorumReply.FromString(reply.SerializeToString()))
    assert answer == dataclasses.replace(pong, qs=state, refusal=refusal)
