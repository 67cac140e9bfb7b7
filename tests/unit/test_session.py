"""The coordinator's placement session (cluster/core/session.py), event by event."""

from cluster.core.messages import Membership
from cluster.core.policy_model import (
    Action,
    ActionKind,
    HaltRequest,
    InstanceState,
    Outcome,
    PackageSpec,
    RunRequest,
)
from cluster.core.session import BACKOFF_FIRST, BACKOFF_MAX, GATHER_RETRY, PlacementSession
from cluster.core.session_model import (
    ActionDone,
    ActionLost,
    ActionRefused,
    Ask,
    Decided,
    Flags,
    Held,
    Layout,
    Modify,
    NodeReport,
    Order,
    Publish,
    Reply,
    Reported,
    ReportMissing,
    Requested,
    SessionEffect,
    TakeoverAt,
    Wake,
    WakeAt,
)
from cluster.core.timing import MS, SECOND

LAYOUT = Layout(
    generation=3,
    nodes=("a", "b"),
    packages=(PackageSpec("web", ("a", "b")),),
    auto_run={"web": True},
)
T0 = 10 * SECOND


def orders(effects: list[SessionEffect]) -> list[Action]:
    return [e.action for e in effects if isinstance(e, Order)]


def formed(members: tuple[str, ...] = ("a", "b"), epoch: int = 7) -> PlacementSession:
    """A session on `a`, coordinator of `epoch`, with every member's (empty) report."""
    session = PlacementSession("a", LAYOUT)
    effects = session.handle(Decided(T0, Membership(epoch, members, "a"), Flags()))
    assert sorted(e.node for e in effects if isinstance(e, Ask)) == sorted(members)
    for member in members:
        session.handle(Reported(T0, NodeReport(member, epoch)))
    return session


def test_gathers_every_member_before_deciding_and_asks_again_when_missing() -> None:
    session = PlacementSession("a", LAYOUT)
    session.handle(Decided(T0, Membership(7, ("a", "b"), "a"), Flags()))
    first = session.handle(Reported(T0, NodeReport("a", 7)))
    assert not session.ready and not orders(first)
    again = session.handle(ReportMissing(T0, "b", 7))
    assert again == [Ask("b", 7, T0 + GATHER_RETRY)]
    ready = session.handle(Reported(T0 + MS, NodeReport("b", 7)))
    assert session.ready
    assert any(isinstance(e, Publish) and e.push for e in ready)
    (start,) = orders(ready)
    assert (start.kind, start.package, start.node, start.epoch) == (ActionKind.START, "web", "a", 7)


def test_an_order_in_flight_pins_its_package_whatever_reports_say() -> None:
    session = formed()
    session.in_flight.clear()
    session.in_flight[("web", "b")] = InstanceState.STARTING
    session.reports["a"] = NodeReport("a", 7)
    snap = session.snapshot(T0)
    assert snap is not None
    assert [(i.node, i.state) for i in snap.state("web").instances] == [
        ("b", InstanceState.STARTING)
    ]
    # b reports nothing yet: still pinned, so no decision starts it anywhere else.
    assert orders(session.handle(Reported(T0, NodeReport("b", 7, seq=1)))) == []
    # A report of another epoch, or older than one already taken, is ignored.
    stale = NodeReport("b", 6, held=(Held("web", InstanceState.RUNNING),), seq=2)
    session.handle(Reported(T0, stale))
    assert session.reports["b"].seq == 1
    session.handle(Reported(T0, NodeReport("b", 7, seq=0)))
    assert session.reports["b"].seq == 1


def test_takeover_waits_for_the_released_time() -> None:
    layout = Layout(1, ("a", "b", "c"), (PackageSpec("web", ("c", "a")),), {"web": True})
    session = PlacementSession("a", layout)
    session.handle(Decided(T0, Membership(8, ("a", "b"), "a"), Flags()))
    session.handle(Reported(T0, NodeReport("a", 8)))
    out = session.handle(Reported(T0, NodeReport("b", 8)))
    assert orders(out) == []  # c may still hold its lease
    out = session.handle(TakeoverAt(T0, "c", 8, T0 + SECOND))
    assert WakeAt(T0 + SECOND) in out and orders(out) == []
    assert orders(session.handle(Wake(T0 + SECOND - 1))) == []
    (start,) = orders(session.handle(Wake(T0 + SECOND)))
    assert start.node == "a"


def test_a_refused_order_backs_off_doubling_and_is_not_repeated_meanwhile() -> None:
    session = formed()
    ((package, node),) = list(session.in_flight)  # the start ordered when ready
    action = Action(ActionKind.START, package, node, 7, "a is its primary node")
    now = T0
    delays = []
    for _ in range(12):
        out = session.handle(ActionRefused(now, action, "a is not in epoch 7 yet"))
        (wake,) = [e for e in out if isinstance(e, WakeAt)]
        delays.append(wake.at - now)
        # The node's report comes back (nothing held): no order before the back-off ends.
        out = session.handle(Reported(now + MS, NodeReport(action.node, 7, seq=len(delays))))
        assert orders(out) == []
        out = session.handle(Wake(wake.at - 1))
        assert orders(out) == []
        now = wake.at
        again = orders(session.handle(Wake(now)))
        assert again == [action]
    assert delays[0] == BACKOFF_FIRST and delays[1] == 2 * BACKOFF_FIRST
    assert max(delays) == BACKOFF_MAX
    # Success clears the back-off.
    session.handle(ActionDone(now, action, NodeReport(action.node, 7, seq=99)))
    assert (action.package, action.node) not in session.backoff


def test_a_lost_start_stays_pinned_until_its_node_reports() -> None:
    session = formed()
    ((package, node),) = list(session.in_flight)
    action = Action(ActionKind.START, package, node, 7, "")
    out = session.handle(ActionLost(T0, action, "no answer"))
    assert Ask(node, 7, T0) in out
    held = session.held("web", T0)
    assert held == {node: InstanceState.STARTING}
    session.handle(
        Reported(T0 + 1, NodeReport(node, 7, held=(Held("web", InstanceState.RUNNING),), seq=5))
    )
    assert session.held("web", T0 + 1) == {node: InstanceState.RUNNING}


def test_failures_reported_go_into_the_replicated_history() -> None:
    session = formed()
    out = session.handle(
        Reported(T0, NodeReport("a", 7, failed=("web",), errors={"web": "boom"}, seq=3))
    )
    (publish,) = [e for e in out if isinstance(e, Publish)]
    flag = publish.flags.get("web")
    assert publish.push and flag is not None and flag.failed == {"a"}
    assert publish.flags.epoch == 7 and publish.flags.seq >= 1
    assert session.last_failure["web"].detail == "boom"


def test_requests_are_answered_and_a_new_epoch_refuses_the_pending_ones() -> None:
    session = formed()
    out = session.handle(Requested(T0, 1, RunRequest("nope")))
    assert out[0] == Reply(1, Outcome.REFUSED, "package nope is not configured")
    out = session.handle(Requested(T0, 2, HaltRequest("web", "b")))
    replies = [e for e in out if isinstance(e, Reply)]
    assert not replies or replies[0].ticket == 2
    session.requests[5] = RunRequest("web", "b")
    out = session.handle(Decided(T0, Membership(8, ("a", "b"), "b"), Flags()))
    assert (
        Reply(5, Outcome.REFUSED, "the coordinator changed (epoch 8): try the command again") in out
    )
    assert not session.active


def test_cmmodpkg_validates_nodes_and_versions_the_flags() -> None:
    session = formed()
    out = session.handle(Modify(T0, 1, "web", False, ("z",)))
    assert out[0] == Reply(1, Outcome.REFUSED, "z is not in the node list of package web")
    out = session.handle(Modify(T0, 2, "web", False, ("b",), "root"))
    (publish,) = [e for e in out if isinstance(e, Publish)]
    flag = publish.flags.get("web")
    assert flag is not None and flag.disabled == {"b"}
    assert Reply(2, Outcome.ACCEPTED, "web: node switching disabled on b") in out


def test_a_node_without_its_guard_is_skipped_with_the_reason() -> None:
    session = PlacementSession("a", LAYOUT)
    session.handle(Decided(T0, Membership(7, ("a", "b"), "a"), Flags()))
    blocked = NodeReport("a", 7, halting=True, blocked="the lease guard is not running")
    session.handle(Reported(T0, blocked))
    (start,) = orders(session.handle(Reported(T0, NodeReport("b", 7))))
    assert start.node == "b"
    assert "a runs no package (the lease guard is not running)" in start.reason
