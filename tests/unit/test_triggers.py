"""When a node proposes, as a table over snapshots."""

from cluster.core.membership import Heartbeats
from cluster.core.messages import Intent, Membership
from cluster.core.timing import MS, SECOND, Timing
from cluster.core.triggers import Facts, change_reasons, formation_wanted, proposer_rank

T = Timing.for_member_timeout(SECOND)
NODES = ("a", "b", "c", "d")
M3 = Membership(3, ("a", "b", "c"), "b")
NOW = 10 * SECOND


def facts(me: str = "a", **changes: object) -> Facts:
    base: dict[str, object] = {
        "me": me,
        "nodes": NODES,
        "decided": M3,
        "intent": Intent.RUN,
        "active": True,
        "booted": True,
        "mature": True,
        "now": NOW,
    }
    base.update(changes)
    return Facts(**base)  # type: ignore[arg-type]


def heartbeats(
    heard: str = "bc", said: dict[str, tuple[int, bool, Intent]] | None = None
) -> Heartbeats:
    hb = Heartbeats("a", tuple(n for n in NODES if n != "a"), T)
    for n in heard:
        hb.answered(n, NOW - 100 * MS)
    for n, (epoch, active, intent) in (said or {}).items():
        hb.pinged(n, epoch, active, intent, NOW)
    return hb


def test_quiet_cluster_wants_nothing() -> None:
    ok = {n: (3, True, Intent.RUN) for n in "bc"}
    assert list(change_reasons(facts(), heartbeats(said=ok))) == []


def test_unheard_member_only_once_mature() -> None:
    hb = heartbeats(heard="b", said={"b": (3, True, Intent.RUN)})
    assert list(change_reasons(facts(), hb)) == ["c not heard for MEMBER_TIMEOUT"]
    assert list(change_reasons(facts(mature=False), hb)) == []


def test_members_that_restarted_leave_or_boot() -> None:
    said = {"b": (3, False, Intent.RUN), "c": (3, True, Intent.LEAVE)}
    assert list(change_reasons(facts(), heartbeats(said=said))) == [
        "b needs a new epoch",
        "c is leave",
    ]
    booting = {"b": (3, False, Intent.BOOTING), "c": (2, True, Intent.HALTED)}
    assert list(change_reasons(facts(), heartbeats(said=booting))) == []  # c is stale


def test_joiner_and_self() -> None:
    said = {n: (3, True, Intent.RUN) for n in "bc"} | {"d": (3, False, Intent.RUN)}
    assert list(change_reasons(facts(), heartbeats(heard="bcd", said=said))) == ["d joins"]
    assert next(change_reasons(facts(active=False), heartbeats(said=said))) == "rejoining"
    assert list(change_reasons(facts(booted=False, active=False), heartbeats(said=said))) == []


def test_auto_start_formation_needs_every_node() -> None:
    never = facts(decided=Membership(0), active=False)
    said = {n: (0, False, Intent.RUN) for n in "bcd"}
    assert formation_wanted(never, heartbeats(heard="bcd", said=said))
    assert not formation_wanted(never, heartbeats(heard="bc", said=said))
    assert not formation_wanted(facts(me="b", decided=Membership(0)), heartbeats("bcd", said))


def test_rank_coordinator_first_then_names() -> None:
    hb = heartbeats(said={n: (3, True, Intent.RUN) for n in "bc"})
    assert proposer_rank(facts(), hb) == 1  # b (coordinator) first, then a
    hb_no_b = heartbeats(heard="c", said={"c": (3, True, Intent.RUN)})
    assert proposer_rank(facts(), hb_no_b) == 0
