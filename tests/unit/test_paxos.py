"""Acceptor rules, acceptor sets and the takeover bound, as tables."""

from cluster.core.messages import QUORUM_SERVER, Ballot, Membership, PrepareReply
from cluster.core.paxos import AcceptorState, Attempt, acceptors_for

B1 = Ballot(1, "a")
B2 = Ballot(2, "a")
B2B = Ballot(2, "b")
M1 = Membership(1, ("a", "b", "c"), "a")


def test_ballots_order_by_round_then_proposer() -> None:
    assert B1 < B2 < B2B


def test_prepare_promises_equal_or_higher_only() -> None:
    state, ok = AcceptorState(2).prepare(B2)
    assert ok and state.promised == B2
    assert state.prepare(B1) == (state, False)
    assert state.prepare(B2)[1]
    assert state.prepare(B2B)[0].promised == B2B


def test_accept_respects_the_promise() -> None:
    state, _ = AcceptorState(2).prepare(B2)
    value = Membership(2, ("a", "b"), "a")
    assert state.accept(B1, value) == (state, False)
    accepted, ok = state.accept(B2, value)
    assert ok and accepted.accepted is not None and accepted.accepted.value == value
    assert accepted.promised == B2


def test_grants_stop_once_anything_is_promised_for_the_next_epoch() -> None:
    fresh = AcceptorState(2)  # deciding epoch 2: members of epoch 1 answer
    assert fresh.grants(1)
    promised, _ = fresh.prepare(B1)
    assert not promised.grants(1)
    assert promised.grants(2)  # a later epoch's ping is not this rule's business
    assert not AcceptorState(3).grants(1)


def test_later_epoch_starts_blank() -> None:
    promised, _ = AcceptorState(2).prepare(B2)
    assert promised.at(2) is promised
    assert promised.at(3) == AcceptorState(3)


def test_acceptor_sets() -> None:
    odd = Membership(1, ("a", "b", "c"), "a")
    even = Membership(1, ("a", "b"), "a")
    assert acceptors_for(odd, quorum_server=True) == (frozenset("abc"), 2)
    assert acceptors_for(even, quorum_server=True) == (frozenset({"a", "b", QUORUM_SERVER}), 2)
    assert acceptors_for(even, quorum_server=False) == (frozenset("ab"), 2)
    four = Membership(1, ("a", "b", "c", "d"), "a")
    assert acceptors_for(four, quorum_server=True)[1] == 3
    assert acceptors_for(Membership(3), True, ("a", "b")) == (frozenset("ab"), 2)  # formation


def reply(ages: tuple[tuple[str, int], ...], unlisted: int) -> PrepareReply:
    return PrepareReply(2, B1, True, True, B1, None, M1, None, ages, unlisted)


def test_takeover_bound_from_ages() -> None:
    attempt = Attempt(2, B1, M1, frozenset("abc"), 2)
    attempt.promised("a", reply((("c", 300),), unlisted=5_000), now=1_000)
    attempt.promised("b", reply((), unlisted=50), now=1_200)
    # a last answered c 300 ago; b answered nothing for at least 50 (it just restarted)
    assert attempt.lease_end_bound("c", 1_000) == max(1_000 + 700, 1_200 + 950)
    # an age beyond the wait adds nothing
    assert attempt.lease_end_bound("x", 40) == 1_200


def test_constrained_value_is_the_highest_accepted() -> None:
    from cluster.core.messages import Accepted

    attempt = Attempt(2, B2B, M1, frozenset("abc"), 2)
    low = Accepted(B1, Membership(2, ("a",), "a"))
    high = Accepted(B2, Membership(2, ("b", "c"), "b"))
    attempt.promised("a", reply((), 0).__class__(2, B2B, True, True, B2B, low, M1, None), 1)
    attempt.promised("b", reply((), 0).__class__(2, B2B, True, True, B2B, high, M1, None), 1)
    assert attempt.constrained_value() == high.value
    assert attempt.has_promise_quorum()
