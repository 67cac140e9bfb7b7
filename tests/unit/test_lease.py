"""Leases: k-th newest granted send time plus MT, carried across an epoch change."""

from cluster.core.membership import FOREVER, Heartbeats, Lease, LeaseBasis
from cluster.core.messages import QUORUM_SERVER
from cluster.core.timing import MS, SECOND, Timing

T = Timing.for_member_timeout(SECOND)


def lease(members: str, quorum: int, carried: LeaseBasis | None = None) -> Lease:
    return Lease(5, "a", acceptors=frozenset(members), quorum=quorum, timing=T, carried=carried)


def test_single_node_lease_never_ends_until_it_promises() -> None:
    one = lease("a", 1)
    assert one.deadline() == FOREVER
    one.stop_self_support(7 * SECOND)
    assert one.deadline() == 8 * SECOND


def test_deadline_is_the_kth_newest_grant_plus_mt() -> None:
    five = lease("abcde", 3)
    assert five.deadline() is None
    five.granted("b", 100 * MS)
    assert five.deadline() is None  # a and b: two of the three needed
    five.granted("c", 300 * MS)
    assert five.deadline() == 100 * MS + SECOND
    five.granted("d", 200 * MS)
    # a (forever), c 300, d 200, b 100: third newest is 200
    assert five.deadline() == 200 * MS + SECOND
    basis = five.basis()
    assert basis is not None and basis.support == frozenset("acd")


def test_old_or_foreign_answers_change_nothing() -> None:
    three = lease("abc", 2)
    three.granted("b", 500 * MS)
    assert not three.granted("b", 400 * MS)
    assert not three.granted("z", 900 * MS)
    assert not three.granted(QUORUM_SERVER, 900 * MS)
    assert three.deadline() == 1500 * MS


def test_quorum_server_counts_when_it_is_an_acceptor() -> None:
    two = Lease(
        5, "a", acceptors=frozenset({"a", "b", QUORUM_SERVER}), quorum=2, timing=T, carried=None
    )
    assert two.granted(QUORUM_SERVER, 100 * MS)
    assert two.deadline() == 1100 * MS
    assert two.answering(150 * MS) == 1  # only a itself: the server is not a member


def test_a_promise_ends_our_own_support() -> None:
    three = lease("abc", 2)
    three.granted("b", 100 * MS)
    three.stop_self_support(50 * MS)
    assert three.deadline() == 50 * MS + SECOND  # two needed: b's and our own, now frozen
    three.stop_self_support(20 * MS)  # only ever earlier
    assert three.support["a"] == 20 * MS


def test_carried_deadline_bridges_an_epoch_change() -> None:
    carried = LeaseBasis(4, 2 * SECOND, frozenset("ab"))
    new = lease("abc", 2, carried)
    assert new.deadline() == 2 * SECOND
    assert new.basis() == carried
    new.granted("c", 1500 * MS)
    assert new.deadline() == 2500 * MS
    basis = new.basis()
    assert basis is not None and basis.epoch == 5


def test_hearing_is_from_answered_send_times() -> None:
    hb = Heartbeats("a", ("b", "c"), T)
    hb.answered("b", 100 * MS)
    hb.answered("b", 50 * MS)  # late, older: ignored
    assert hb.hears(1000 * MS) == frozenset("ab")
    assert hb.hears(1100 * MS) == frozenset("a")
    assert hb.first_silence(("a", "b", "c"), 500 * MS) == 1100 * MS
