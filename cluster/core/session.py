"""The coordinator's placement session (DESIGN.md section 3), sans-IO: events in
(`session_model`), effects out. The daemon's `Coordinator` and the simulator drive
this same code.

After each decided membership in which this node is the coordinator, the session first
gathers what every member holds (asked of each member, answered only by members already
in that epoch), never trusting its memory; then it runs the placement engine
(`policy.decide`) after every report, action outcome, flag change, operator request and
takeover time, and orders each action, stamped with the epoch, to its node.

What makes a package run on one node at most, beyond the engine's rule (start only
where nothing of it is held and no non-member can still hold a lease):

- An action in flight pins its instance as starting/halting whatever reports arrive
  meanwhile, so no later decision can repeat it elsewhere; a start whose outcome is
  unknown (refused or lost) stays pinned as starting until that node reports again.
- A node's older report never replaces a newer one of the same cmcld run.
- A refused order is not repeated at once: the same action waits a back-off (doubling
  from `BACKOFF_FIRST` to `BACKOFF_MAX`), and the wait is said, not counted as a
  failure of the package.
"""

from dataclasses import dataclass, replace

from cluster.core.messages import Membership
from cluster.core.policy import decide
from cluster.core.policy_model import (
    Action,
    ActionKind,
    Instance,
    InstanceState,
    Outcome,
    PackageState,
    Request,
    Snapshot,
)
from cluster.core.session_flags import Failure, FlagRules, Key, _Flag
from cluster.core.session_model import (
    ActionDone,
    ActionLost,
    ActionRefused,
    Ask,
    Configured,
    Decided,
    Flags,
    HaltAll,
    Layout,
    Modify,
    NodeReport,
    Order,
    Publish,
    Reply,
    Reported,
    ReportMissing,
    Requested,
    Say,
    SessionEffect,
    SessionEvent,
    TakeoverAt,
    WakeAt,
)
from cluster.core.timing import MS, SECOND

GATHER_RETRY = 100 * MS  # between asks to a member not yet in the epoch
REFRESH_RETRY = 500 * MS  # between asks once gathered (after an action's unknown outcome)
BACKOFF_FIRST = 50 * MS  # a refused order is repeated after this, then twice as long...
BACKOFF_MAX = 5 * SECOND  # ...up to this


@dataclass
class _Backoff:
    until: int
    delay: int
    error: str


class PlacementSession(FlagRules):
    def __init__(self, node: str, layout: Layout | None = None, flags: Flags | None = None) -> None:
        self.node = node
        self.layout = layout
        self.flags = flags or Flags()  # this node's copy (the coordinator's is the newest)
        self.membership: Membership | None = None
        self.ready = False  # every member's report gathered for this epoch
        self.gather_began = 0
        self.reports: dict[str, NodeReport] = {}
        self.in_flight: dict[Key, InstanceState] = {}
        self.unknown: set[Key] = set()  # outcome lost or refused: pinned until reported
        self.released: dict[str, int] = {}  # non-member -> local ns its takeover is allowed
        self.requests: dict[int, Request] = {}  # ticket -> request, oldest first
        self.backoff: dict[Key, _Backoff] = {}
        self.reasons: dict[str, str] = {}  # package -> why it is not where it should be
        self.cluster_halting = False
        self.last_failure: dict[str, Failure] = {}
        self._failures = 0
        # FAILURE_TIMEOUT: when this coordinator first knew of each failure (its own
        # clock; a new coordinator starts counting afresh, which lengthens, never
        # shortens, the time a node is avoided).
        self.failure_seen: dict[Key, int] = {}
        self._expiry_wake = 0
        self._repushed: dict[str, tuple[int, int]] = {}  # member -> flags version re-pushed
        self._last_decided: Membership | None = None  # the membership before this one
        self._formed = False  # this epoch formed the cluster (the one before was empty)

    @property
    def active(self) -> bool:
        return self.membership is not None

    # -- events ------------------------------------------------------------------------

    def handle(self, event: SessionEvent) -> list[SessionEffect]:
        out: list[SessionEffect] = []
        if isinstance(event, Decided):
            self._on_decided(event, out)
        elif isinstance(event, Configured):
            self.layout = event.layout
        elif isinstance(event, Reported):
            self._take_report(event.report, event.now, out)
        elif isinstance(event, ReportMissing):
            self._missing(event, out)
        elif isinstance(event, ActionDone):
            self._done(event, out)
        elif isinstance(event, ActionRefused | ActionLost):
            self._not_done(event, out)
        elif isinstance(event, TakeoverAt):
            if self.membership is not None and event.epoch == self.membership.epoch:
                self.released[event.node] = event.at
                out.append(WakeAt(event.at))
        elif isinstance(event, Requested):
            self._requested(event, out)
        elif isinstance(event, Modify):
            self._modify(event, out)
        elif isinstance(event, HaltAll):
            self.cluster_halting = True
        if self.ready:
            self._decide(event.now, out)
        return out

    def adopt(self, flags: Flags) -> None:
        """This node's stored flags changed (pushed by a coordinator): keep the newest."""
        if flags.version > self.flags.version:
            self.flags = flags

    def _on_decided(self, event: Decided, out: list[SessionEffect]) -> None:
        """Every decided membership ends the previous session; this node opens the next
        one when it coordinates it."""
        self._end(f"the coordinator changed (epoch {event.membership.epoch})", out)
        self.adopt(event.flags)
        m = event.membership
        before = event.previous if event.previous is not None else self._last_decided
        if self._last_decided is None or m.epoch > self._last_decided.epoch:
            self._last_decided = m
            self._formed = before is not None and before.epoch > 0 and not before.members
        if m.coordinator != self.node or self.node not in m.members:
            return
        self.membership = m
        self.gather_began = event.now
        out.extend(Ask(member, m.epoch, event.now) for member in m.members)

    def _end(self, why: str, out: list[SessionEffect]) -> None:
        out.extend(
            Reply(ticket, Outcome.REFUSED, f"{why}: try the command again")
            for ticket in self.requests
        )
        self.membership = None
        self.ready = False
        self.reports = {}
        self.in_flight = {}
        self.unknown = set()
        self.released = {}
        self.requests = {}
        self.backoff = {}
        self.reasons = {}
        self.cluster_halting = False
        self._expiry_wake = 0  # the daemon drops pending wake-ups with the session

    def close(self, why: str) -> list[SessionEffect]:
        out: list[SessionEffect] = []
        self._end(why, out)
        return out

    # -- reports -----------------------------------------------------------------------

    def _take_report(self, report: NodeReport, now: int, out: list[SessionEffect]) -> None:
        m = self.membership
        if m is None or report.epoch != m.epoch or report.node not in m.members:
            return
        old = self.reports.get(report.node)
        if old is not None and old.boot == report.boot and old.seq > report.seq:
            return  # an older report overtaken by a newer one
        self.reports[report.node] = report
        self.unknown = {k for k in self.unknown if k[1] != report.node}
        if report.flags.version > self.flags.version:
            self.flags = report.flags
            out.append(Publish(report.flags, push=False))
        if self.ready:
            kept = self.flags
            self._record_failures(report, out)
            self._record_homes(report, out)
            behind = report.flags.version < self.flags.version
            if self.flags is kept and behind and self._repushed.get(report.node) != kept.version:
                # A push that did not reach it (it decides maintenance mode and failure
                # handling from its own copy): once more, once per version.
                self._repushed[report.node] = self.flags.version
                out.append(Publish(self.flags, push=True))
        elif set(self.reports) >= set(m.members):
            self.ready = True
            took = (now - self.gather_began) / MS
            out.append(
                Say(
                    f"epoch {m.epoch}: package reports of {len(m.members)} members "
                    f"gathered in {took:.0f} ms"
                )
            )
            # Only now are the newest flags any member holds merged in: what this
            # coordinator sets before would be of its epoch, so newer than theirs, and
            # they would be lost (failures, maintenance mode, AUTO_RUN turned off).
            before = self.flags
            self._end_maintenance(m, out)
            for member in sorted(self.reports):
                self._record_failures(self.reports[member], out)
                self._record_homes(self.reports[member], out)
            if self.flags is before:
                out.append(Publish(self.flags, push=True))

    def _missing(self, event: ReportMissing, out: list[SessionEffect]) -> None:
        m = self.membership
        if m is None or event.epoch != m.epoch or event.node not in m.members:
            return
        retry = GATHER_RETRY if not self.ready else REFRESH_RETRY
        out.append(Ask(event.node, event.epoch, event.now + retry))

    def _record_failures(self, report: NodeReport, out: list[SessionEffect]) -> None:
        if not report.failed:
            return
        table = self._flag_table()
        new = [p for p in report.failed if report.node not in table.get(p, _Flag()).failed]
        if not new:
            return
        for name in new:
            if name in table:
                table[name].failed.add(report.node)
            detail = report.errors.get(name) or "see the package log on that node"
            self._failed(name, report.node, detail)
        out.append(
            Say(f"failure history: {', '.join(sorted(new))} failed on {report.node}", "warning")
        )
        self._set_flags(table, out)

    def _failed(self, package: str, node: str, detail: str) -> None:
        self._failures += 1
        self.last_failure[package] = Failure(self._failures, node, detail)

    # -- action outcomes -----------------------------------------------------------------

    def _done(self, event: ActionDone, out: list[SessionEffect]) -> None:
        action = event.action
        if self.membership is None or self.membership.epoch != action.epoch:
            return
        key = (action.package, action.node)
        self.in_flight.pop(key, None)
        self.backoff.pop(key, None)
        if event.report is not None:
            self._take_report(event.report, event.now, out)
        else:
            out.append(Ask(action.node, action.epoch, event.now))

    def _not_done(self, event: ActionRefused | ActionLost, out: list[SessionEffect]) -> None:
        action = event.action
        if self.membership is None or self.membership.epoch != action.epoch:
            return
        key = (action.package, action.node)
        self.in_flight.pop(key, None)
        lost = isinstance(event, ActionLost)
        out.append(Say(f"{action.describe()}: {event.error}", "error" if lost else "warning"))
        if action.kind is ActionKind.START:
            self.unknown.add(key)  # until that node reports again
            self._failed(action.package, action.node, event.error)
        previous = self.backoff.get(key)
        delay = BACKOFF_FIRST if previous is None else min(previous.delay * 2, BACKOFF_MAX)
        self.backoff[key] = _Backoff(event.now + delay, delay, event.error)
        out.append(WakeAt(event.now + delay))
        out.append(Ask(action.node, action.epoch, event.now))

    # -- operator requests ---------------------------------------------------------------

    def _requested(self, event: Requested, out: list[SessionEffect]) -> None:
        if self.membership is None:
            out.append(Reply(event.ticket, Outcome.REFUSED, "this node is not the coordinator"))
            return
        if self.layout is None or self.layout.spec(event.request.package) is None:
            out.append(
                Reply(
                    event.ticket,
                    Outcome.REFUSED,
                    f"package {event.request.package} is not configured",
                )
            )
            return
        self.requests[event.ticket] = event.request

    def modify_problem(self, event: Modify) -> str:
        """Why cmmodpkg -e/-d would be refused now ("" if it would not): also what its
        preview (-t) answers."""
        spec = self.layout.spec(event.package) if self.layout else None
        if self.membership is None:
            return "this node is not the coordinator"
        if spec is None:
            return f"package {event.package} is not configured"
        for node in event.nodes:
            if node not in spec.nodes:
                return f"{node} is not in the node list of package {spec.name}"
        if event.enable and not event.nodes:
            refusal = self._enable_problem(spec, self._flag_table())
            return f"{spec.name}: {refusal}" if refusal else ""
        return ""

    def _modify(self, event: Modify, out: list[SessionEffect]) -> None:
        spec = self.layout.spec(event.package) if self.layout else None
        if event.maintenance is not None and self.membership is not None and spec is not None:
            problem = self.modify_problem(replace(event, enable=False))
            if problem:
                out.append(Reply(event.ticket, Outcome.REFUSED, problem))
                return
            self._maintenance_mode(event, spec, out)
            return
        problem = self.modify_problem(event)
        if problem or spec is None:
            out.append(Reply(event.ticket, Outcome.REFUSED, problem))
            return
        table = self._flag_table()
        flag = table[spec.name]
        nodes = set(event.nodes)
        if event.enable and not nodes:
            flag.auto_run = True
            cleared, flag.failed = flag.failed, set()
            what = "global switching (AUTO_RUN) enabled"
            if cleared:
                what += f"; failure history on {', '.join(sorted(cleared))} cleared"
        elif event.enable:
            flag.disabled -= nodes
            flag.failed -= nodes
            what = f"node switching enabled on {', '.join(sorted(nodes))}"
        elif not nodes:
            flag.auto_run = False
            what = "global switching (AUTO_RUN) disabled"
        else:
            flag.disabled |= nodes
            what = f"node switching disabled on {', '.join(sorted(nodes))}"
        if event.enable:
            for node in nodes or set(spec.nodes):
                self.backoff.pop((spec.name, node), None)
        self._set_flags(table, out)
        out.append(Say(f"package {spec.name}: {what} (by {event.who})"))
        out.append(Reply(event.ticket, Outcome.ACCEPTED, f"{spec.name}: {what}"))

    # -- the decision --------------------------------------------------------------------

    def snapshot(self, now: int) -> Snapshot | None:
        layout, m = self.layout, self.membership
        if layout is None or m is None:
            return None
        members = tuple(m.members)
        flags = self._flag_table()
        pinned: dict[str, dict[str, InstanceState]] = {p.name: {} for p in layout.packages}
        for member in members:
            report = self.reports.get(member)
            for item in report.held if report else ():
                if item.package in pinned:
                    pinned[item.package][member] = item.state
        for (name, node), state in self.in_flight.items():
            if name in pinned:
                pinned[name][node] = state
        for name, node in self.unknown:
            if name in pinned and node not in pinned[name]:
                pinned[name][node] = InstanceState.STARTING
        states = []
        for p in layout.packages:
            flag = flags.get(p.name, _Flag(layout.auto_run.get(p.name, True)))
            states.append(
                PackageState(
                    name=p.name,
                    instances=tuple(Instance(n, s) for n, s in sorted(pinned[p.name].items())),
                    auto_run=flag.auto_run,
                    disabled_nodes=frozenset(flag.disabled),
                    failed_nodes=frozenset(flag.failed),
                    maintenance=flag.maintenance if p.is_failover else "",
                )
            )
        halting = {n for n in members if (r := self.reports.get(n)) and (r.halting or r.blocked)}
        if self.cluster_halting:
            halting = set(members)
        return Snapshot(
            epoch=m.epoch,
            members=members,
            coordinator=self.node,
            nodes=layout.nodes,
            packages=layout.packages,
            states=tuple(states),
            released=frozenset(
                n for n, at in self.released.items() if at <= now and n not in members
            ),
            halting=frozenset(halting),
            requests=tuple(self.requests.values()),
            blocked={
                n: r.blocked
                for n in sorted(halting)
                if (r := self.reports.get(n)) is not None and r.blocked
            },
        )

    def _decide(self, now: int, out: list[SessionEffect]) -> None:
        self._expire_failures(now, out)
        snap = self.snapshot(now)
        if snap is None:
            return
        decision = decide(snap)
        if decision.auto_run_off:
            table = self._flag_table()
            for name in decision.auto_run_off:
                table.setdefault(name, _Flag()).auto_run = False
            self._set_flags(table, out)
        waiting: dict[str, str] = {}
        orders: list[Action] = []
        for action in decision.actions:
            held_back = self.backoff.get((action.package, action.node))
            if held_back is not None and held_back.until > now:
                waiting[action.package] = (
                    f"{action.describe()} is retried in "
                    f"{(held_back.until - now) / SECOND:.1f} s ({held_back.error})"
                )
                out.append(WakeAt(held_back.until))
                continue
            orders.append(action)
            self.in_flight[(action.package, action.node)] = (
                InstanceState.STARTING if action.kind is ActionKind.START else InstanceState.HALTING
            )
        if orders or decision.answers:
            out.append(Say(decision.summary))
        generation = self.layout.generation if self.layout else 0
        out.extend(Order(action, generation) for action in orders)
        for answer in decision.answers:
            if answer.outcome is Outcome.WAITING:
                continue
            for ticket, request in list(self.requests.items()):
                if request == answer.request:
                    del self.requests[ticket]
                    out.append(Reply(ticket, answer.outcome, answer.reason))
                    break
        self.reasons = {w.package: w.reason for w in decision.waits} | waiting

    # -- reading -------------------------------------------------------------------------

    def held(self, name: str, now: int) -> dict[str, InstanceState]:
        snap = self.snapshot(now)
        if snap is None or name not in {p.name for p in snap.packages}:
            return {}
        return {i.node: i.state for i in snap.state(name).instances}

    def where(self, name: str, now: int) -> list[str]:
        return sorted(n for n, s in self.held(name, now).items() if s is InstanceState.RUNNING)

    def anything_held(self, now: int) -> bool:
        snap = self.snapshot(now)
        return snap is not None and any(s.instances for s in snap.states)
