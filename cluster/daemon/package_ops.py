"""Package commands and reports between this node, the coordinator and the operator:
cmrunpkg/cmhaltpkg/cmmodpkg relayed to the coordinator, this node's report pushed to
it after each change, cmhaltnode's "move my packages away first", and the package part
of cmviewcl gathered from every member."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from cluster.config.online import Running
from cluster.core.model import PackageNodeView, PackageView, ServiceView
from cluster.daemon.coordinator import Coordinator
from cluster.daemon.distribute import node_addresses
from cluster.daemon.membership import MembershipDriver
from cluster.daemon.packages import Epoch, LocalPackages
from cluster.errors import CmError, FieldError
from cluster.pb.v1 import common_pb2, package_pb2
from cluster.transport.convert_session import instance_of
from cluster.transport.peers import PeerDialer

log = logging.getLogger("cmcld.packages")

PUSH_TIMEOUT = 5.0
VIEW_TIMEOUT = 3.0
RELAY_TIMEOUT = 1000.0
HALT_HERE_TIMEOUT = 900.0

STATE_NAMES = {
    common_pb2.PACKAGE_STATE_HALTED: "halted",
    common_pb2.PACKAGE_STATE_STARTING: "starting",
    common_pb2.PACKAGE_STATE_RUNNING: "running",
    common_pb2.PACKAGE_STATE_HALTING: "halting",
    common_pb2.PACKAGE_STATE_FAILED: "failed",
}


def current_epoch(membership: MembershipDriver) -> Epoch:
    decided = membership.decided()
    active = membership.active() and membership.holds_lease()
    return Epoch(decided.epoch, active, decided.coordinator)


class PackageOps:
    def __init__(
        self,
        *,
        node: str,
        membership: MembershipDriver,
        packages: LocalPackages,
        coordinator: Coordinator,
        dialer: PeerDialer,
    ) -> None:
        self.node = node
        self._membership = membership
        self._packages = packages
        self._coordinator = coordinator
        self._dialer = dialer
        self._push: asyncio.Task[None] | None = None
        self._again = False
        packages.on_report = self.push_soon

    # -- reports to the coordinator ---------------------------------------------------

    def push_soon(self) -> None:
        """Send our report to the coordinator; changes during a send cause one more."""
        if self._push is not None and not self._push.done():
            self._again = True
            return
        with contextlib.suppress(RuntimeError):  # no loop: cmcld is stopping
            self._push = asyncio.get_running_loop().create_task(self._push_reports())

    async def _push_reports(self) -> None:
        while True:
            self._again = False
            await self._push_once()
            if not self._again:
                return

    async def _push_once(self) -> None:
        epoch = current_epoch(self._membership)
        if not epoch.coordinator or not self._membership.active():
            return
        report = self._packages.node_report()
        if epoch.coordinator == self.node:
            self._coordinator.take_report(report)
            return
        config = self._membership.config
        try:
            await self._dialer.call(
                epoch.coordinator,
                node_addresses(epoch.coordinator, config),
                "ReportPackage",
                report,
                PUSH_TIMEOUT,
            )
        except CmError as exc:
            # The coordinator gathers every report again after a reformation, so a
            # lost push only delays what it learns until then.
            log.warning("report to the coordinator %s failed: %s", epoch.coordinator, exc)

    def take_report(self, report: package_pb2.NodePackages) -> None:
        self._coordinator.take_report(report)

    def set_flags(self, caller: str, flags: package_pb2.PackageFlags) -> None:
        """SetPackageFlags from `caller`, the coordinator of our current epoch (the
        transport checked): its flags must be of that epoch."""
        current = current_epoch(self._membership)
        if flags.epoch != current.number:
            raise FieldError(
                "epoch",
                f"flags of epoch {flags.epoch} from {caller}: {self.node} is in epoch "
                f"{current.number}",
            )
        self._packages.set_flags(flags)

    async def execute(self, action: package_pb2.PackageAction) -> package_pb2.PackageReport:
        return await self._packages.execute(action)

    def halting_done(self) -> None:
        if self._packages.halting:
            self._packages.halting = False
            self._packages.changed()

    async def command_here(
        self, request: package_pb2.PackageCommandRequest, caller: str
    ) -> AsyncIterator[str]:
        """A command relayed by `caller`: only the coordinator runs it."""
        if not self._coordinator.active:
            raise CmError(f"{self.node} is no longer the coordinator: try the command again")
        log.info(
            "package command from %s (issued on %s by %s)",
            caller,
            request.issued_on,
            request.operator,
        )
        async for line in self._coordinator.command(request):
            yield line

    def report_for(self, epoch: int) -> package_pb2.NodePackages:
        """GetPackages: what we hold, for the coordinator of `epoch` (0: for a view)."""
        if epoch == 0:
            report = self._packages.node_report()
            del report.packages[:]
            report.packages.extend(self._packages.all_reports())
            report.reasons.update(self._coordinator.reasons)
            return report
        current = current_epoch(self._membership)
        if epoch != current.number:
            raise CmError(f"{self.node} is in epoch {current.number}, not {epoch}")
        return self._packages.node_report()

    # -- operator commands ------------------------------------------------------------------

    async def command(self, request: package_pb2.PackageCommandRequest) -> AsyncIterator[str]:
        """Run a package command on the coordinator, here or relayed to it."""
        epoch = current_epoch(self._membership)
        if not self._membership.active() or not epoch.coordinator:
            raise CmError(
                f"the cluster is not running on {self.node}: start it (cmruncl, cmrunnode) "
                "or give the command on a running node"
            )
        if epoch.coordinator == self.node:
            async for line in self._coordinator.command(request):
                yield line
            return
        config = self._membership.config
        async for is_result, ok, text in self._dialer.stream(
            epoch.coordinator,
            node_addresses(epoch.coordinator, config),
            "PackageCommand",
            request,
            RELAY_TIMEOUT,
        ):
            if is_result:
                if not ok:
                    raise CmError(text)
                return
            yield text

    async def halt_here(self) -> AsyncIterator[str]:
        """cmhaltnode: the coordinator moves our packages away (or halts them) first.
        Whatever is still held here in the end (a halt that was not clean, a package
        that would not halt in time) fails the command: the node must not leave while
        it holds resources, or its lease and guard would no longer cover them."""
        if not self._packages.active():
            return
        if not self._membership.active():
            yield f"halting the packages on {self.node}"
            await self._packages.halt_all_here()
            self._nothing_held()
            return
        self._packages.halting = True
        self._packages.changed()
        yield f"moving the packages off {self.node}: {', '.join(self._packages.active())}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HALT_HERE_TIMEOUT
        while self._packages.active():
            if self._packages.unclean() == self._packages.active():
                break  # the coordinator moves no unclean package: waiting changes nothing
            if loop.time() > deadline or not self._membership.active():
                yield f"halting the remaining packages on {self.node} here"
                await self._packages.halt_all_here()
                break
            await asyncio.sleep(0.1)
        self._nothing_held()
        yield f"no package runs on {self.node} any more"

    def _nothing_held(self) -> None:
        """Raise, naming them, when packages still hold something here."""
        held = self._packages.active()
        if not held:
            return
        unclean = self._packages.unclean()
        raise CmError(
            f"{self.node} still holds {', '.join(held)}"
            + (f" ({', '.join(unclean)} could not be halted cleanly)" if unclean else "")
            + f": {self.node} stays in the cluster so its lease guard keeps covering them. "
            "See the package log (cmviewcl -v: halt aborted), release what is held (a busy "
            "filesystem: stop what uses it), halt the package again (cmhaltpkg), then run "
            "cmhaltnode again"
        )

    # -- cmviewcl -----------------------------------------------------------------------

    async def gather(self, nodes: list[str] | None = None) -> dict[str, package_pb2.NodePackages]:
        """Every member's (or every one of `nodes`') report, all its packages, halted
        ones too; a node that does not answer in time is missing."""
        if nodes is not None:
            members = list(nodes)
        else:
            members = list(self._membership.decided().members) if self._membership.active() else []
        if self.node not in members:
            members.append(self.node)
        config = self._membership.config

        async def one(member: str) -> tuple[str, package_pb2.NodePackages | None]:
            if member == self.node:
                return member, self.report_for(0)
            try:
                reply = await self._dialer.call(
                    member,
                    node_addresses(member, config),
                    "GetPackages",
                    package_pb2.GetPackagesRequest(epoch=0),
                    VIEW_TIMEOUT,
                )
            except CmError:
                return member, None
            return member, reply

        return {m: r for m, r in await asyncio.gather(*(one(m) for m in members)) if r is not None}

    @staticmethod
    def warnings(reports: dict[str, package_pb2.NodePackages]) -> list[str]:
        """For cmviewcl -v: each member that may start no package, and why."""
        return [
            f"{node} runs no package: {report.blocked}"
            for node, report in sorted(reports.items())
            if report.blocked
        ]

    async def views(
        self, reports: dict[str, package_pb2.NodePackages] | None = None
    ) -> tuple[PackageView, ...]:
        """Every configured package as the members report it (`reports`: gathered
        already, or gathered now)."""
        config = self._membership.config
        if config is None:
            return ()
        if reports is None:
            reports = await self.gather()
        newest = max(
            (r.flags for r in reports.values()),
            key=lambda f: (f.epoch, f.seq),
            default=package_pb2.PackageFlags(),
        )
        flags = {f.package_name: f for f in newest.packages}
        reasons: dict[str, str] = {}
        coordinator = self._membership.decided().coordinator
        if coordinator in reports:
            reasons = dict(reports[coordinator].reasons)
        views = []
        for package in config.packages:
            nodes = package.eligible_nodes(config.cluster)
            flag = flags.get(package.name)
            auto_run = flag.auto_run if flag else package.auto_run
            disabled = set(flag.disabled_nodes) if flag else set()
            failed = set(flag.failed_nodes) if flag else set()
            held: dict[str, package_pb2.PackageReport] = {}
            for member, report in sorted(reports.items()):
                for item in report.packages:
                    if item.package_name == package.name and (
                        instance_of(item) is not None
                        or item.state == common_pb2.PACKAGE_STATE_FAILED
                    ):
                        held[member] = item
            running = sorted(
                n for n, r in held.items() if r.state == common_pb2.PACKAGE_STATE_RUNNING
            )
            state = "halted"
            for wanted in ("halting", "starting", "running", "failed"):
                if any(STATE_NAMES.get(r.state) == wanted for r in held.values()):
                    state = wanted
                    break
            if state == "halted" and failed and not held:
                state = "failed" if not running else state
            maintenance = flag.maintenance_node if flag else ""
            if maintenance and state == "running":
                state = "maintenance"  # Serviceguard: STATUS up, STATE maintenance
            shown = held.get(running[0]) if running else next(iter(held.values()), None)
            reason = reasons.get(package.name, "")
            aborted = sorted(n for n, r in held.items() if r.halt_unclean)
            if aborted:
                # Serviceguard's halt_aborted: started nowhere until an operator acts.
                reason = (
                    f"halt aborted on {', '.join(aborted)} ({held[aborted[0]].last_error}): "
                    "it starts nowhere until it is halted there cleanly (cmhaltpkg)"
                )
            views.append(
                PackageView(
                    name=package.name,
                    status="up" if running else "down",
                    state=state,
                    auto_run=auto_run,
                    node=running[0] if running else "",
                    type=package.type,
                    failover_policy=package.failover_policy.lower(),
                    failback_policy=package.failback_policy.lower(),
                    nodes=tuple(
                        PackageNodeView(
                            name=n,
                            switching_enabled=n not in disabled,
                            failed_here=n in failed,
                            primary=i == 0,
                        )
                        for i, n in enumerate(nodes)
                    ),
                    services=tuple(
                        ServiceView(s.service_name, s.running, s.restarts, s.max_restarts, s.pid)
                        for s in (shown.services if shown else ())
                    ),
                    monitored_subnets=tuple(package.monitored_subnets),
                    reason=reason,
                    running_on=tuple(running),
                    subnets_down=tuple(sorted({s for n in running for s in held[n].subnets_down})),
                    subnets_known=bool(running) and bool(package.monitored_subnets),
                    maintenance=maintenance,
                    ailing="; ".join(held[n].ailing for n in running if held[n].ailing),
                )
            )
        return tuple(views)

    def running_packages(self) -> dict[str, frozenset[str]]:
        """Where packages run as far as this node knows, for the online-change rules:
        this node's own packages, and on the coordinator what it placed elsewhere."""
        held: dict[str, set[str]] = {name: {self.node} for name in self._packages.active()}
        config = self._membership.config
        if self._coordinator.active and config is not None:
            for p in config.packages:
                held.setdefault(p.name, set()).update(self._coordinator.held(p.name))
        return {name: frozenset(nodes) for name, nodes in held.items() if nodes}

    async def cluster_running(self) -> Running | None:
        """Where packages run in the whole cluster, as every member reports it, for the
        online-change rules of cmapplyconf/cmdeleteconf on any node. One node's memory
        is not enough (a package it does not run may run elsewhere), and a member that
        does not answer makes the answer unknown: refused, not guessed."""
        known = self._membership.cluster_running()
        if known is None:
            return None
        reports = await self.gather(sorted(known.nodes))
        missing = sorted(set(known.nodes) - set(reports))
        if missing:
            raise CmError(
                f"cannot tell which packages run on {', '.join(missing)} (no answer): "
                "try again when every member answers (cmviewcl)"
            )
        held: dict[str, set[str]] = {n: set(s) for n, s in self.running_packages().items()}
        for member, report in reports.items():
            for item in report.packages:
                if instance_of(item) is not None:
                    held.setdefault(item.package_name, set()).add(member)
        return Running(
            nodes=known.nodes, packages={name: frozenset(nodes) for name, nodes in held.items()}
        )
