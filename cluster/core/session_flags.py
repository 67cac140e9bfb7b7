"""The coordinator's replicated flags and the rules that change them, apart from the
placement session that owns them (`session.PlacementSession` derives from this): the
flag table and its versioned publication, maintenance mode (Serviceguard's rules for
cmmodpkg -m on/off, and its end when its node leaves or the cluster halts), global
switching refused around maintenance, the failure history's FAILURE_TIMEOUT, and where
each package last ran (a start elsewhere is a move, an event for the alert scripts).
Sans-IO like the session: events in, effects out.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from cluster.core.events import Event, Kind
from cluster.core.messages import Membership
from cluster.core.policy_model import InstanceState, Outcome, PackageSpec
from cluster.core.session_model import (
    Flag,
    Flags,
    Layout,
    Modify,
    NodeReport,
    Notify,
    Publish,
    Reply,
    Say,
    SessionEffect,
    WakeAt,
)

Key = tuple[str, str]  # (package, node)


@dataclass
class Failure:
    """The last failure of a package as the coordinator saw it, numbered so a command
    waiting on the package can tell a new one from an old one."""

    number: int
    node: str
    detail: str


@dataclass
class _Flag:
    auto_run: bool = True
    disabled: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    maintenance: str = ""
    home: str = ""
    resume: bool = False  # -m on turned switching off: -m off turns it back on


class FlagRules:
    """What the session's flag rules read and keep (set by `PlacementSession`)."""

    node: str
    layout: Layout | None
    flags: Flags
    membership: Membership | None
    reports: dict[str, NodeReport]
    last_failure: dict[str, "Failure"]
    failure_seen: dict[Key, int]
    _expiry_wake: int
    _formed: bool
    held: Callable[[str, int], dict[str, InstanceState]]

    @property
    def epoch(self) -> int:
        return self.membership.epoch if self.membership else 0

    def _record_homes(self, report: NodeReport, out: list[SessionEffect]) -> None:
        """Where each failover package runs, replicated with the flags so the next
        coordinator knows too: a package running on another node than before has moved
        (an event for the alert scripts)."""
        layout = self.layout
        if layout is None:
            return
        table = self._flag_table()
        moved = False
        for item in report.held:
            spec = layout.spec(item.package)
            flag = table.get(item.package)
            if spec is None or flag is None or not spec.is_failover:
                continue
            if item.state is not InstanceState.RUNNING or flag.home == report.node:
                continue
            if flag.home:
                out.append(
                    Notify(
                        Event(
                            Kind.PACKAGE_MOVED,
                            node=report.node,
                            package=item.package,
                            epoch=self.epoch,
                            old=flag.home,
                            new=report.node,
                            reason=self._why_moved(item.package, flag.home),
                        )
                    )
                )
            flag.home = report.node
            moved = True
        if moved:
            self._set_flags(table, out)

    def _why_moved(self, package: str, old: str) -> str:
        failure = self.last_failure.get(package)
        if failure is not None and failure.node == old:
            return f"it failed on {old}: {failure.detail}"
        if self.membership is not None and old not in self.membership.members:
            return f"{old} left the cluster"
        return "moved by the operator or by its policy"

    def _enable_problem(self, spec: PackageSpec, table: dict[str, _Flag]) -> str:
        """Global switching stays off in maintenance mode, and for a package that depends
        on one in maintenance mode (Serviceguard's rules)."""
        if table[spec.name].maintenance:
            return f"it is in maintenance mode: cmmodpkg -m off {spec.name} first"
        for dep in spec.dependencies:
            if dep.package in table and table[dep.package].maintenance:
                return f"{dep.package}, which it depends on, is in maintenance mode"
        return ""

    def _end_maintenance(self, m: Membership, out: list[SessionEffect]) -> None:
        """Serviceguard: maintenance mode ends when its node halts or fails, or when the
        cluster halts (not when the package halts)."""
        table = self._flag_table()
        ended = sorted(
            name
            for name, flag in table.items()
            if flag.maintenance and (self._formed or flag.maintenance not in m.members)
        )
        formed, self._formed = self._formed, False  # once per formation
        if not ended:
            return
        for name in ended:
            why = "the cluster was halted" if formed else f"{table[name].maintenance} left"
            out.append(Say(f"package {name}: maintenance mode ended ({why})", "warning"))
            out.append(
                Notify(
                    Event(
                        Kind.PACKAGE_MAINTENANCE,
                        node=table[name].maintenance,
                        package=name,
                        epoch=m.epoch,
                        old="on",
                        new="off",
                        reason=why,
                    )
                )
            )
            # Not started again by itself (Serviceguard): switching stays off.
            table[name].maintenance, table[name].resume = "", False
        self._set_flags(table, out)

    def _maintenance_mode(self, event: Modify, spec: PackageSpec, out: list[SessionEffect]) -> None:
        """cmmodpkg -m on|off [-n NODE] PKG, with Serviceguard's rules (README)."""
        name = spec.name
        problem, node = self._maintenance_problem(event, spec)
        if problem:
            out.append(Reply(event.ticket, Outcome.REFUSED, f"{name}: {problem}"))
            return
        table = self._flag_table()
        flag = table[name]
        if flag.maintenance == node:
            what = f"already in maintenance mode on {node}" if node else "not in maintenance mode"
            out.append(Reply(event.ticket, Outcome.ACCEPTED, f"{name}: {what}"))
            return
        before, flag.maintenance = flag.maintenance, node
        what = f"maintenance mode on, on {node}" if node else "maintenance mode off"
        if node and flag.auto_run:
            # Serviceguard refuses until switching is off; an operator who did not turn
            # it off gets it off, and back on with -m off.
            flag.auto_run, flag.resume = False, True
            what += "; global switching (AUTO_RUN) disabled meanwhile"
        elif not node and flag.resume:
            flag.auto_run, flag.resume = True, False
            what += "; global switching (AUTO_RUN) enabled again"
        self._set_flags(table, out)
        out.append(
            Notify(
                Event(
                    Kind.PACKAGE_MAINTENANCE,
                    node=node or before,
                    package=name,
                    epoch=self.epoch,
                    old="on" if before else "off",
                    new="on" if node else "off",
                    reason=f"by {event.who}",
                )
            )
        )
        out.append(Say(f"package {name}: {what} (by {event.who})"))
        out.append(Reply(event.ticket, Outcome.ACCEPTED, f"{name}: {what}"))

    def _maintenance_problem(self, event: Modify, spec: PackageSpec) -> tuple[str, str]:
        """Why cmmodpkg -m may not change the package now ("" if it may), and the node of
        its maintenance mode afterwards ("" for off)."""
        name, now = spec.name, event.now
        flag = self._flag_table()[name]
        held = self.held(name, now)
        m = self.membership
        members = m.members if m else ()
        if len(event.nodes) > 1:
            return "maintenance mode is on one node: give at most one -n", ""
        asked = event.nodes[0] if event.nodes else ""
        busy = {n: s for n, s in held.items() if s is not InstanceState.RUNNING}
        for n, state in sorted(busy.items()):
            if state is InstanceState.UNCLEAN:
                return f"it could not be halted cleanly on {n}: cmhaltpkg {name} first", ""
            return f"it is {state} on {n}: retry once it settles", ""
        if not event.maintenance:
            home = flag.maintenance
            if asked and home and asked != home:
                return f"it is in maintenance mode on {home}, not on {asked}", ""
            report = self.reports.get(home)
            item = next((h for h in report.held if h.package == name), None) if report else None
            if item is not None and item.ailing:
                return (
                    f"it is not whole and healthy on {home} ({item.ailing}): start what is "
                    f"missing (cmrunpkg {name}) or halt it (cmhaltpkg {name}) first"
                ), ""
            return "", ""
        if not spec.is_failover:
            return "only a failover package has a maintenance mode", ""
        running = sorted(held)
        if running and asked and running[0] != asked:
            return f"it runs on {running[0]}: maintenance mode is on the node where it runs", ""
        node = running[0] if running else asked
        if not node:
            return f"it is not running: say on which node (cmmodpkg -m on -n NODE {name})", ""
        if flag.maintenance and flag.maintenance != node:
            return f"it is in maintenance mode on {flag.maintenance} already", ""
        if node not in spec.nodes:
            return f"{node} is not in its node list", ""
        if node not in members:
            return f"{node} is not a cluster member", ""
        report = self.reports.get(node)
        if report is not None and (report.halting or report.blocked):
            return f"{node} is halting or runs no package", ""
        for other in self.layout.packages if self.layout else ():
            if not any(d.package == name for d in other.dependencies):
                continue
            other_flag = self._flag_table()[other.name]
            if other_flag.maintenance:
                continue
            if self.held(other.name, now):
                return f"{other.name} depends on it and is up: halt {other.name} first", ""
            if other_flag.auto_run:
                return (
                    f"{other.name} depends on it: disable its switching first "
                    f"(cmmodpkg -d {other.name})"
                ), ""
        return "", node

    # -- flags ---------------------------------------------------------------------------

    def _flag_table(self) -> dict[str, _Flag]:
        table: dict[str, _Flag] = {}
        layout = self.layout
        for p in layout.packages if layout else ():
            known = self.flags.get(p.name)
            if known is None:
                table[p.name] = _Flag(layout.auto_run.get(p.name, True) if layout else True)
            else:
                table[p.name] = _Flag(
                    known.auto_run,
                    set(known.disabled),
                    set(known.failed),
                    known.maintenance,
                    known.home,
                    known.resume,
                )
        return table

    def _set_flags(self, table: dict[str, _Flag], out: list[SessionEffect]) -> None:
        old = self.flags
        seq = old.seq + 1 if old.epoch == self.epoch else 1
        self.flags = Flags(
            epoch=self.epoch,
            seq=seq,
            packages=tuple(
                Flag(
                    name,
                    f.auto_run,
                    frozenset(f.disabled),
                    frozenset(f.failed),
                    f.maintenance,
                    f.home,
                    f.resume,
                )
                for name, f in sorted(table.items())
            ),
        )
        out.append(Publish(self.flags, push=True))

    def _expire_failures(self, now: int, out: list[SessionEffect]) -> None:
        """FAILURE_TIMEOUT: a node's failure mark clears by itself that long after
        this coordinator first knew of it."""
        layout = self.layout
        timeouts = layout.failure_timeout if layout else {}
        table = self._flag_table()
        known = {(name, node) for name, flag in table.items() for node in flag.failed}
        self.failure_seen = {k: v for k, v in self.failure_seen.items() if k in known}
        expired: list[Key] = []
        earliest = 0
        for name, node in sorted(known):
            timeout = timeouts.get(name, 0)
            if not timeout:
                continue
            seen = self.failure_seen.setdefault((name, node), now)
            if now - seen >= timeout:
                expired.append((name, node))
            elif not earliest or seen + timeout < earliest:
                earliest = seen + timeout
        for name, node in expired:
            table[name].failed.discard(node)
            del self.failure_seen[(name, node)]
            out.append(Say(f"package {name}: its failure on {node} expired (FAILURE_TIMEOUT)"))
        if expired:
            self._set_flags(table, out)
        if earliest and earliest != self._expiry_wake:
            self._expiry_wake = earliest
            out.append(WakeAt(earliest))
