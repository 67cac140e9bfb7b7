"""The placement session's replicated flags beyond switching: maintenance mode (cmmodpkg
-m on|off), with Serviceguard's rules for entering and leaving it and its end when its
node leaves or the cluster re-forms, and the failure history's FAILURE_TIMEOUT."""

from collections.abc import Mapping
from dataclasses import replace

from cluster.core.messages import Membership
from cluster.core.policy_model import (
    ActionKind,
    Dependency,
    InstanceState,
    Outcome,
    PackageSpec,
    RunRequest,
)
from cluster.core.session import PlacementSession
from cluster.core.session_model import (
    Decided,
    Flags,
    Held,
    Layout,
    Modify,
    NodeReport,
    Order,
    Reply,
    Reported,
    Requested,
    SessionEffect,
)
from cluster.core.timing import SECOND

LAYOUT = Layout(
    generation=3,
    nodes=("a", "b"),
    packages=(
        PackageSpec("web", ("a", "b")),
        PackageSpec("app", ("a", "b"), dependencies=(Dependency("web"),)),
    ),
    auto_run={"web": False, "app": False},
)
T0 = 10 * SECOND


def reply(effects: list[SessionEffect]) -> tuple[Outcome, str]:
    (answer,) = [e for e in effects if isinstance(e, Reply)]
    return answer.outcome, answer.reason


def session_with(held: Mapping[str, tuple[Held, ...]], epoch: int = 7) -> PlacementSession:
    session = PlacementSession("a", LAYOUT)
    session.handle(Decided(T0, Membership(epoch, ("a", "b"), "a"), Flags()))
    for member in ("a", "b"):
        session.handle(Reported(T0, NodeReport(member, epoch, held.get(member, ()))))
    return session


def maintenance_of(session: PlacementSession, package: str = "web") -> str:
    flag = session.flags.get(package)
    assert flag is not None
    return flag.maintenance


def modify(
    session: PlacementSession, on: bool, nodes: tuple[str, ...] = (), package: str = "web"
) -> tuple[Outcome, str]:
    event = Modify(T0, 1, package, False, nodes, "root", maintenance=on)
    return reply(session.handle(event))


RUNNING_ON_A: Mapping[str, tuple[Held, ...]] = {"a": (Held("web", InstanceState.RUNNING),)}


def test_on_where_it_runs_and_off_again() -> None:
    session = session_with(RUNNING_ON_A)
    assert modify(session, True) == (Outcome.ACCEPTED, "web: maintenance mode on, on a")
    assert maintenance_of(session) == "a"
    snap = session.snapshot(T0)
    assert snap is not None and snap.state("web").maintenance == "a"
    assert modify(session, False) == (Outcome.ACCEPTED, "web: maintenance mode off")
    assert maintenance_of(session) == ""


def test_refusals_say_what_to_do() -> None:
    session = session_with(RUNNING_ON_A)
    assert modify(session, True, ("b",))[1].endswith(
        "maintenance mode is on the node where it runs"
    )
    assert modify(session, True, ("a", "b"))[0] is Outcome.REFUSED
    halted = session_with({})
    assert "say on which node" in modify(halted, True)[1]
    assert modify(halted, True, ("b",)) == (Outcome.ACCEPTED, "web: maintenance mode on, on b")
    starting = session_with({"a": (Held("web", InstanceState.STARTING),)})
    assert "retry once it settles" in modify(starting, True)[1]


def test_switching_goes_off_with_maintenance_mode_and_comes_back_as_it_was() -> None:
    """Serviceguard wants switching off first; here -m on turns it off when it is on,
    and -m off turns it back on. Turned off by the operator, it stays off."""
    layout = Layout(3, ("a", "b"), (PackageSpec("web", ("a", "b")),), {"web": True})
    session = PlacementSession("a", layout)
    session.handle(Decided(T0, Membership(7, ("a", "b"), "a"), Flags()))
    for member in ("a", "b"):
        session.handle(Reported(T0, NodeReport(member, 7, RUNNING_ON_A.get(member, ()))))

    def auto_run() -> bool:
        flag = session.flags.get("web")
        assert flag is not None
        return flag.auto_run

    outcome, why = modify(session, True)
    assert outcome is Outcome.ACCEPTED and "AUTO_RUN) disabled meanwhile" in why
    assert not auto_run()
    enable = reply(session.handle(Modify(T0, 3, "web", True)))
    assert enable[0] is Outcome.REFUSED and "cmmodpkg -m off web first" in enable[1]
    outcome, why = modify(session, False)
    assert outcome is Outcome.ACCEPTED and "enabled again" in why and auto_run()
    session.handle(Modify(T0, 4, "web", False))  # cmmodpkg -d web: the operator's
    assert modify(session, True)[0] is Outcome.ACCEPTED
    assert modify(session, False) == (Outcome.ACCEPTED, "web: maintenance mode off")
    assert not auto_run()


def test_dependents_must_be_down_and_cannot_be_enabled_or_run() -> None:
    session = session_with(
        {"a": (Held("web", InstanceState.RUNNING), Held("app", InstanceState.RUNNING))}
    )
    outcome, why = modify(session, True)
    assert outcome is Outcome.REFUSED and "app depends on it and is up" in why
    session = session_with(RUNNING_ON_A)
    assert modify(session, True)[0] is Outcome.ACCEPTED
    enable = reply(session.handle(Modify(T0, 4, "app", True)))
    assert enable[0] is Outcome.REFUSED and "web, which it depends on" in enable[1]
    run = reply(session.handle(Requested(T0, 5, RunRequest("app"))))
    assert run[0] is Outcome.REFUSED and "runs only in maintenance mode too" in run[1]


def test_off_is_refused_while_it_is_not_whole() -> None:
    ailing = Held("web", InstanceState.RUNNING, ailing="sg/service down")
    session = session_with({"a": (ailing,)})
    assert modify(session, True)[0] is Outcome.ACCEPTED
    outcome, why = modify(session, False)
    assert outcome is Outcome.REFUSED and "sg/service down" in why and "cmrunpkg web" in why


def test_a_partial_order_goes_to_its_node_without_moving_it() -> None:
    session = session_with(RUNNING_ON_A)
    modify(session, True)
    effects = session.handle(Requested(T0, 6, RunRequest("web", None, ("sg/service",))))
    (order,) = [e.action for e in effects if isinstance(e, Order)]
    assert (order.kind, order.node, order.modules) == (ActionKind.START, "a", ("sg/service",))
    assert reply(effects)[0] is Outcome.ACCEPTED


def test_it_ends_when_its_node_leaves_and_when_the_cluster_formed_again() -> None:
    session = session_with(RUNNING_ON_A)
    modify(session, True)
    flags = session.flags
    # Epoch 8 without a: the new coordinator (b) ends maintenance mode.
    other = PlacementSession("b", LAYOUT, flags)
    other.handle(Decided(T0, Membership(8, ("b",), "b"), flags))
    other.handle(Reported(T0, NodeReport("b", 8)))
    assert maintenance_of(other) == ""
    # The cluster halted (an empty membership) and formed again: it ends too.
    again = PlacementSession("a", LAYOUT, flags)
    again.handle(Decided(T0, Membership(8, (), ""), flags))
    again.handle(Decided(T0, Membership(9, ("a", "b"), "a"), flags))
    for member in ("a", "b"):
        again.handle(Reported(T0, NodeReport(member, 9, RUNNING_ON_A.get(member, ()))))
    assert maintenance_of(again) == ""
    # A plain re-formation keeping its node keeps it.
    kept = PlacementSession("a", LAYOUT, flags)
    kept.handle(Decided(T0, Membership(8, ("a", "b"), "a"), flags))
    for member in ("a", "b"):
        kept.handle(Reported(T0, NodeReport(member, 8, RUNNING_ON_A.get(member, ()))))
    assert maintenance_of(kept) == "a"


def test_a_failure_mark_expires_after_failure_timeout_and_not_before() -> None:
    """FAILURE_TIMEOUT (Pacemaker's failure-timeout): counted from when the coordinator
    first knew of the failure; cmmodpkg -e -n clears it at once as before."""
    from cluster.core.session_model import Wake, WakeAt

    layout = Layout(
        3, ("a", "b"), (PackageSpec("web", ("a", "b")),), {"web": True}, {"web": 60 * SECOND}
    )
    session = PlacementSession("a", layout)
    session.handle(Decided(T0, Membership(7, ("a", "b"), "a"), Flags()))
    session.handle(Reported(T0, NodeReport("a", 7)))
    effects = session.handle(Reported(T0, NodeReport("b", 7, failed=("web",))))
    flag = session.flags.get("web")
    assert flag is not None and flag.failed == frozenset({"b"})
    assert WakeAt(T0 + 60 * SECOND) in effects
    session.handle(Wake(T0 + 59 * SECOND))
    flag = session.flags.get("web")
    assert flag is not None and flag.failed == frozenset({"b"})
    session.handle(Wake(T0 + 60 * SECOND))
    flag = session.flags.get("web")
    assert flag is not None and flag.failed == frozenset()
    # Without a FAILURE_TIMEOUT, a failure stays until cmmodpkg -e.
    forever = PlacementSession("a", LAYOUT)
    forever.handle(Decided(T0, Membership(7, ("a", "b"), "a"), Flags()))
    forever.handle(Reported(T0, NodeReport("a", 7)))
    forever.handle(Reported(T0, NodeReport("b", 7, failed=("web",))))
    forever.handle(Wake(T0 + 3600 * SECOND))
    assert maintenance_of(forever) == "" and forever.flags.get("web").failed == {"b"}  # type: ignore[union-attr]


def test_flags_set_while_gathering_do_not_hide_the_newest_copy_a_member_holds() -> None:
    """A failure (or a home) reported before every member's report is in is recorded
    only once the newest flags any member holds are merged: recorded at once, with this
    coordinator's epoch, it would have outranked them and lost what they say (here:
    cmhaltpkg's AUTO_RUN off, set by the previous coordinator and pushed to b only)."""
    from cluster.core.session_model import Flag

    layout = Layout(3, ("a", "b"), (PackageSpec("web", ("a", "b")),), {"web": True})
    newest = Flags(epoch=6, seq=4, packages=(Flag("web", auto_run=False),))
    session = PlacementSession("a", layout, Flags(epoch=5, seq=1))
    session.handle(Decided(T0, Membership(7, ("a", "b"), "a"), Flags(epoch=5, seq=1)))
    session.handle(Reported(T0, NodeReport("a", 7, failed=("web",), flags=Flags(5, 1))))
    session.handle(Reported(T0, NodeReport("b", 7, flags=newest)))
    flag = session.flags.get("web")
    assert flag is not None and not flag.auto_run, "AUTO_RUN off was lost"
    assert flag.failed == frozenset({"a"}) and session.flags.epoch == 7


def test_after_a_restart_the_durable_previous_membership_tells_a_formation() -> None:
    """A cmcld started afresh knows the halted cluster only from its durable state: the
    Decided event carries it, and maintenance mode ends at the formation."""
    session = session_with(RUNNING_ON_A)
    modify(session, True)
    flags = session.flags
    fresh = PlacementSession("a", LAYOUT, flags)
    fresh.handle(Decided(T0, Membership(9, ("a", "b"), "a"), flags, previous=Membership(8)))
    for member in ("a", "b"):
        fresh.handle(Reported(T0, NodeReport(member, 9, RUNNING_ON_A.get(member, ()))))
    assert maintenance_of(fresh) == ""


def test_a_member_whose_flags_lag_gets_them_again_once() -> None:
    from cluster.core.session_model import Publish

    session = session_with(RUNNING_ON_A)
    modify(session, True)  # flags of epoch 7 now; b's report still shows the old ones
    lagging = NodeReport("b", 7, seq=5)
    first = session.handle(Reported(T0, lagging))
    assert any(isinstance(e, Publish) and e.push for e in first)
    again = session.handle(Reported(T0, replace(lagging, seq=6)))
    assert not any(isinstance(e, Publish) for e in again)
