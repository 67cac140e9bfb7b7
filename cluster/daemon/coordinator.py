"""Package placement on the coordinator of the current epoch (DESIGN.md section 3).

After each decided membership in which this node is the coordinator, it first gathers
what every member holds (GetPackages, answered only by members already in that epoch),
never trusting its memory; then it runs the placement engine (`core.policy.decide`)
after every report, action outcome, flag change, operator request and takeover time,
and sends each action, stamped with the epoch, to its node.

An action in flight pins its instance as starting/halting whatever reports arrive
meanwhile, so no later decision can repeat it elsewhere; its reply carries the node's
report afterwards. An action whose outcome is unknown (the node did not answer) stays
pinned until that node reports again or leaves the membership.

The switching flags (AUTO_RUN, node switching, failure history) are replicated to every
member, versioned (epoch, seq), so a new coordinator continues with the newest copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from cluster.config.model import Config, Package
from cluster.core.messages import Membership
from cluster.core.policy import decide
from cluster.core.policy_model import (
    Action,
    ActionKind,
    Condition,
    Dependency,
    FailbackPolicy,
    FailoverPolicy,
    HaltRequest,
    Instance,
    InstanceState,
    Location,
    Outcome,
    PackageSpec,
    PackageState,
    PackageType,
    Request,
    RunRequest,
    Snapshot,
)
from cluster.daemon.background import report_end
from cluster.daemon.distribute import node_addresses
from cluster.daemon.packages import LocalPackages
from cluster.errors import CmError
from cluster.pb.v1 import common_pb2, package_pb2
from cluster.transport.peers import PeerDialer

log = logging.getLogger("cmcld.coordinator")

GATHER_RETRY = 0.1  # seconds between asks to a member not yet in the epoch
RPC_TIMEOUT = 5.0
ACTION_SLACK = 60.0  # beyond the package's own script and service timeouts
COMMAND_TIMEOUT = 900.0

INSTANCE_OF = {
    common_pb2.PACKAGE_STATE_STARTING: InstanceState.STARTING,
    common_pb2.PACKAGE_STATE_RUNNING: InstanceState.RUNNING,
    common_pb2.PACKAGE_STATE_HALTING: InstanceState.HALTING,
}


def spec_of(package: Package, config: Config) -> PackageSpec:
    return PackageSpec(
        name=package.name,
        nodes=package.eligible_nodes(config.cluster),
        type=PackageType(package.type),
        failover_policy=FailoverPolicy(package.failover_policy.lower()),
        failback_policy=FailbackPolicy(package.failback_policy.lower()),
        priority=package.priority,
        dependencies=tuple(
            Dependency(d.package, Condition(d.condition.lower()), Location(d.location.lower()))
            for d in package.dependencies
        ),
    )


def instance_of(report: package_pb2.PackageReport) -> InstanceState | None:
    if report.halt_unclean:
        return InstanceState.UNCLEAN
    return INSTANCE_OF.get(report.state)


@dataclass
class Pending:
    request: Request
    answer: asyncio.Future[tuple[Outcome, str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Coordinator:
    def __init__(
        self,
        *,
        node: str,
        config: Callable[[], Config | None],
        generation: Callable[[], int],
        packages: LocalPackages,
        dialer: PeerDialer,
    ) -> None:
        self.node = node
        self._config = config
        self._generation = generation
        self._local = packages
        self._dialer = dialer
        self.membership: Membership | None = None
        self.ready = False  # every member's report gathered for this epoch
        self.reports: dict[str, package_pb2.NodePackages] = {}
        self.in_flight: dict[tuple[str, str], InstanceState] = {}
        self.unknown: set[tuple[str, str]] = set()  # outcome lost: pinned until reported
        self.released: dict[str, int] = {}  # non-member -> monotonic ns its takeover is allowed
        self.requests: list[Pending] = []
        self.reasons: dict[str, str] = {}
        self.cluster_halting = False
        self.last_failure: dict[str, tuple[int, str, str]] = {}  # package -> (n, node, detail)
        self._failures = 0
        self._dirty = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def epoch(self) -> int:
        return self.membership.epoch if self.membership else 0

    @property
    def active(self) -> bool:
        return self.membership is not None

    # -- membership ----------------------------------------------------------------

    def on_decided(self, membership: Membership) -> None:
        """Called for every decided membership (on every node)."""
        self._stop(f"the coordinator changed (epoch {membership.epoch})")
        if membership.coordinator != self.node or self.node not in membership.members:
            return
        self.membership = membership
        self.ready = False
        self.reports = {}
        self.cluster_halting = False
        self._task = asyncio.get_running_loop().create_task(
            self._run(membership), name=f"coordinator-{membership.epoch}"
        )
        self._task.add_done_callback(report_end)

    def on_takeover(self, node: str, epoch: int, at: int) -> None:
        if self.membership is None or epoch != self.membership.epoch:
            return
        self.released[node] = at
        delay = max(0.0, (at - time.monotonic_ns()) / 1e9)
        self._timers.append(asyncio.get_running_loop().call_later(delay, self.poke))

    def _stop(self, why: str) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        for pending in self.requests:
            if not pending.answer.done():
                pending.answer.set_exception(CmError(f"{why}: try the command again"))
        self.requests = []
        self.membership = None
        self.ready = False
        self.in_flight = {}
        self.unknown = set()
        self.released = {}
        self.reasons = {}
        self._changed.set()

    def close(self) -> None:
        self._stop("cmcld stopping")

    def poke(self) -> None:
        self._dirty.set()

    # -- reports -----------------------------------------------------------------------

    def take_report(self, report: package_pb2.NodePackages) -> None:
        """A member's report (pushed, or an action's reply)."""
        if self.membership is None or report.epoch != self.membership.epoch:
            return
        if report.node_name not in self.membership.members:
            return
        old = self.reports.get(report.node_name)
        if old is not None and old.boot == report.boot and old.seq > report.seq:
            return  # an older report overtaken by a newer one
        self.reports[report.node_name] = report
        for key in [k for k in self.unknown if k[1] == report.node_name]:
            self.unknown.discard(key)
        self._adopt_flags(report.flags)
        self._record_failures(report)
        self.poke()

    def _adopt_flags(self, flags: package_pb2.PackageFlags) -> None:
        mine = self._local.flags
        if (flags.epoch, flags.seq) > (mine.epoch, mine.seq):
            self._local.set_flags(flags)

    def _record_failures(self, report: package_pb2.NodePackages) -> None:
        if not report.failed_packages:
            return
        current = self._flag_table()
        new = [
            p
            for p in report.failed_packages
            if report.node_name not in current.get(p, _Flag()).failed
        ]
        if not new:
            return
        for name in new:
            if name in current:
                current[name].failed.add(report.node_name)
            self._failures += 1
            self.last_failure[name] = (self._failures, report.node_name, _error(report, name))
        log.warning("failure history: %s failed on %s", ", ".join(sorted(new)), report.node_name)
        self._set_flags(current)

    async def _gather(self, membership: Membership) -> None:
        async def one(member: str) -> None:
            while True:
                try:
                    reply = await self._ask(member, membership.epoch)
                except CmError as exc:
                    log.debug(
                        "package report of %s for epoch %d: %s", member, membership.epoch, exc
                    )
                    await asyncio.sleep(GATHER_RETRY)
                    continue
                self.take_report(reply)
                return

        await asyncio.gather(*(one(m) for m in membership.members))

    async def _ask(self, member: str, epoch: int) -> package_pb2.NodePackages:
        if member == self.node:
            report = self._local.node_report()
            if report.epoch != epoch:
                raise CmError("not in that epoch yet")
            return report
        config = self._config()
        reply: package_pb2.NodePackages = await self._dialer.call(
            member,
            node_addresses(member, config),
            "GetPackages",
            package_pb2.GetPackagesRequest(epoch=epoch),
            RPC_TIMEOUT,
        )
        return reply

    # -- the decision loop ------------------------------------------------------------

    async def _run(self, membership: Membership) -> None:
        began = time.monotonic()
        try:
            await self._gather(membership)
        except asyncio.CancelledError:
            log.debug("epoch %d: gathering cancelled", membership.epoch, exc_info=True)
            raise
        self.ready = True
        log.info(
            "epoch %d: package reports of %d members gathered in %.0f ms",
            membership.epoch,
            len(membership.members),
            (time.monotonic() - began) * 1000,
        )
        self._push_flags()
        self.poke()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                self._decide_once()
            except Exception:
                log.exception("package placement failed in epoch %d", membership.epoch)
            self._changed.set()
            self._changed = asyncio.Event()

    def snapshot(self) -> Snapshot | None:
        config, membership = self._config(), self.membership
        if config is None or membership is None:
            return None
        members = tuple(membership.members)
        flags = self._flag_table()
        states: list[PackageState] = []
        for package in config.packages:
            held: dict[str, InstanceState] = {}
            for member in members:
                report = self.reports.get(member)
                for item in report.packages if report else ():
                    if item.package_name == package.name:
                        state = instance_of(item)
                        if state is not None:
                            held[member] = state
            for (name, node), state in self.in_flight.items():
                if name == package.name:
                    held[node] = state
            for name, node in self.unknown:
                if name == package.name and node not in held:
                    held[node] = InstanceState.STARTING
            flag = flags.get(package.name, _Flag(package.auto_run))
            states.append(
                PackageState(
                    name=package.name,
                    instances=tuple(Instance(n, s) for n, s in sorted(held.items())),
                    auto_run=flag.auto_run,
                    disabled_nodes=frozenset(flag.disabled),
                    failed_nodes=frozenset(flag.failed),
                )
            )
        now = time.monotonic_ns()
        halting = {m for m in members if self.reports.get(m) and self.reports[m].halting}
        if self.cluster_halting:
            halting = set(members)
        return Snapshot(
            epoch=membership.epoch,
            members=members,
            coordinator=self.node,
            nodes=tuple(n.name for n in config.cluster.nodes),
            packages=tuple(spec_of(p, config) for p in config.packages),
            states=tuple(states),
            released=frozenset(
                n for n, at in self.released.items() if at <= now and n not in members
            ),
            halting=frozenset(halting),
            requests=tuple(p.request for p in self.requests),
        )

    def _decide_once(self) -> None:
        snap = self.snapshot()
        if snap is None:
            return
        decision = decide(snap)
        if decision.auto_run_off:
            table = self._flag_table()
            for name in decision.auto_run_off:
                table.setdefault(name, _Flag()).auto_run = False
            self._set_flags(table)
        for action in decision.actions:
            state = (
                InstanceState.STARTING if action.kind is ActionKind.START else InstanceState.HALTING
            )
            self.in_flight[(action.package, action.node)] = state
        if decision.actions or decision.answers:
            log.info("%s", decision.summary)
        for action in decision.actions:
            asyncio.get_running_loop().create_task(self._send(action))
        for answer in decision.answers:
            for pending in self.requests:
                if (
                    pending.request == answer.request
                    and answer.outcome is not Outcome.WAITING
                    and not pending.answer.done()
                ):
                    pending.answer.set_result((answer.outcome, answer.reason))
        self.requests = [p for p in self.requests if not p.answer.done()]
        self.reasons = {w.package: w.reason for w in decision.waits}

    async def _send(self, action: Action) -> None:
        key = (action.package, action.node)
        config = self._config()
        order = package_pb2.PackageAction(
            epoch=action.epoch,
            config_generation=self._generation(),
            package_name=action.package,
            kind=(
                package_pb2.PackageAction.KIND_START
                if action.kind is ActionKind.START
                else package_pb2.PackageAction.KIND_HALT
            ),
            reason=action.reason,
        )
        timeout = _action_timeout(config.package(action.package) if config else None)
        try:
            if action.node == self.node:
                await self._local.execute(order)
                reply_report = self._local.node_report()
            else:
                reply = await self._dialer.call(
                    action.node,
                    node_addresses(action.node, config),
                    "ExecutePackageAction",
                    order,
                    timeout,
                )
                reply_report = None
                if reply.error:
                    raise CmError(reply.error)
        except CmError as exc:
            if self.membership is None or self.membership.epoch != action.epoch:
                return
            log.error("%s: %s", action.describe(), exc)
            self.in_flight.pop(key, None)
            if action.kind is ActionKind.START:
                self.unknown.add(key)  # until that node reports again
                self._failures += 1
                self.last_failure[action.package] = (self._failures, action.node, str(exc))
            self._refresh(action.node, action.epoch)
            return
        if self.membership is None or self.membership.epoch != action.epoch:
            return
        self.in_flight.pop(key, None)
        if reply_report is not None:
            self.take_report(reply_report)
        else:
            self._refresh(action.node, action.epoch)

    def _refresh(self, node: str, epoch: int) -> None:
        """Ask a member for its report again (after an action, or a lost answer)."""

        async def again() -> None:
            for _ in range(50):
                if self.membership is None or self.membership.epoch != epoch:
                    return
                try:
                    self.take_report(await self._ask(node, epoch))
                    return
                except CmError:
                    await asyncio.sleep(GATHER_RETRY * 5)

        asyncio.get_running_loop().create_task(again())

    # -- flags ---------------------------------------------------------------------------

    def _flag_table(self) -> dict[str, _Flag]:
        config = self._config()
        table: dict[str, _Flag] = {}
        for p in config.packages if config else ():
            table[p.name] = _Flag(p.auto_run)
        known = {f.package_name: f for f in self._local.flags.packages}
        for name, flag in table.items():
            if name in known:
                f = known[name]
                flag.auto_run = f.auto_run
                flag.disabled = set(f.disabled_nodes)
                flag.failed = set(f.failed_nodes)
        return table

    def _set_flags(self, table: dict[str, _Flag]) -> None:
        old = self._local.flags
        seq = old.seq + 1 if old.epoch == self.epoch else 1
        flags = package_pb2.PackageFlags(
            epoch=self.epoch,
            seq=seq,
            packages=[
                package_pb2.PackageFlag(
                    package_name=name,
                    auto_run=f.auto_run,
                    disabled_nodes=sorted(f.disabled),
                    failed_nodes=sorted(f.failed),
                )
                for name, f in sorted(table.items())
            ],
        )
        self._local.set_flags(flags)
        self._push_flags()
        self.poke()

    def _push_flags(self) -> None:
        membership, config = self.membership, self._config()
        if membership is None:
            return
        flags = self._local.flags
        for member in membership.members:
            if member == self.node:
                continue

            async def push(member: str = member) -> None:
                with contextlib.suppress(CmError):
                    await self._dialer.call(
                        member,
                        node_addresses(member, config),
                        "SetPackageFlags",
                        flags,
                        RPC_TIMEOUT,
                    )

            asyncio.get_running_loop().create_task(push())

    # -- operator commands ------------------------------------------------------------------

    async def command(self, request: package_pb2.PackageCommandRequest) -> AsyncIterator[str]:
        if self.membership is None:
            raise CmError("this node is no longer the coordinator: try the command again")
        if not self.ready:
            await self._wait(lambda: self.ready, 30.0, "gathering the members' package reports")
        which = request.WhichOneof("command")
        who = request.operator or "an operator"
        if which == "modify":
            async for line in self._modify(request.modify, who):
                yield line
        elif which == "run":
            async for line in self._run_package(
                request.run.package_name, request.run.node_name, who
            ):
                yield line
        elif which == "halt":
            async for line in self._halt_package(
                request.halt.package_name, request.halt.node_name, who
            ):
                yield line
        elif which == "halt_all":
            async for line in self._halt_all(who):
                yield line
        else:
            raise CmError("empty package command")

    def _package(self, name: str) -> Package:
        config = self._config()
        package = config.package(name) if config else None
        if package is None:
            raise CmError(f"package {name} is not configured (cmviewconf lists the packages)")
        return package

    async def _ask_engine(self, request: Request) -> str:
        pending = Pending(request)
        self.requests.append(pending)
        self.poke()
        outcome, reason = await asyncio.wait_for(pending.answer, COMMAND_TIMEOUT)
        if outcome is Outcome.REFUSED:
            raise CmError(f"{request.describe()} refused: {reason}")
        return reason

    async def _run_package(self, name: str, node: str, who: str) -> AsyncIterator[str]:
        self._package(name)
        failures_before = self.last_failure.get(name, (0, "", ""))[0]
        reason = await self._ask_engine(RunRequest(name, node or None))
        yield reason or f"{name}: starting"

        def done() -> bool:
            failure = self.last_failure.get(name)
            if failure is not None and failure[0] > failures_before:
                raise CmError(f"package {name} failed to start on {failure[1]}: {failure[2]}")
            where = self.where(name)
            return bool(where) and (not node or node in where)

        await self._wait(done, COMMAND_TIMEOUT, f"starting {name}")
        yield f"Package {name} is running on {', '.join(self.where(name))}"

    async def _halt_package(self, name: str, node: str, who: str) -> AsyncIterator[str]:
        self._package(name)
        reason = await self._ask_engine(HaltRequest(name, node or None))
        yield reason or f"{name}: halting"

        def done() -> bool:
            held = self.held(name)
            if any(s is InstanceState.UNCLEAN for n, s in held.items() if not node or n == node):
                raise CmError(f"package {name} could not be halted cleanly: see its log")
            return not any(not node or n == node for n in held)

        await self._wait(done, COMMAND_TIMEOUT, f"halting {name}")
        yield f"Package {name} is halted" + (f" on {node}" if node else "")

    async def _halt_all(self, who: str) -> AsyncIterator[str]:
        self.cluster_halting = True
        self.poke()
        yield "halting every package (cmhaltcl -f)"
        await self._wait(lambda: not self.anything_held(), COMMAND_TIMEOUT, "halting the packages")
        yield "every package is halted"

    async def _modify(
        self, request: package_pb2.ModifyPackageRequest, who: str
    ) -> AsyncIterator[str]:
        package = self._package(request.package_name)
        config = self._config()
        assert config is not None
        eligible = package.eligible_nodes(config.cluster)
        for node in request.node_names:
            if node not in eligible:
                raise CmError(f"{node} is not in the node list of package {package.name}")
        table = self._flag_table()
        flag = table[package.name]
        nodes = set(request.node_names)
        if request.enable and not nodes:
            flag.auto_run = True
            cleared, flag.failed = flag.failed, set()
            what = "global switching (AUTO_RUN) enabled"
            if cleared:
                what += f"; failure history on {', '.join(sorted(cleared))} cleared"
        elif request.enable:
            flag.disabled -= nodes
            flag.failed -= nodes
            what = f"node switching enabled on {', '.join(sorted(nodes))}"
        elif not nodes:
            flag.auto_run = False
            what = "global switching (AUTO_RUN) disabled"
        else:
            flag.disabled |= nodes
            what = f"node switching disabled on {', '.join(sorted(nodes))}"
        self._set_flags(table)
        log.info("package %s: %s (by %s)", package.name, what, who)
        yield f"{package.name}: {what}"

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        epoch = self.epoch
        while not done():
            if self.membership is None or self.epoch != epoch:
                raise CmError(f"{what}: the cluster re-formed meanwhile; check cmviewcl")
            left = deadline - loop.time()
            if left <= 0:
                raise CmError(f"{what}: not done within {timeout:.0f} s; check cmviewcl")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))

    # -- reading ---------------------------------------------------------------------------

    def held(self, name: str) -> dict[str, InstanceState]:
        snap = self.snapshot()
        if snap is None:
            return {}
        return {i.node: i.state for i in snap.state(name).instances}

    def where(self, name: str) -> list[str]:
        return sorted(n for n, s in self.held(name).items() if s is InstanceState.RUNNING)

    def anything_held(self) -> bool:
        snap = self.snapshot()
        return snap is not None and any(s.instances for s in snap.states)


@dataclass
class _Flag:
    auto_run: bool = True
    disabled: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)


def _error(report: package_pb2.NodePackages, name: str) -> str:
    for item in report.packages:
        if item.package_name == name and item.last_error:
            return item.last_error
    return "see the package log on that node"


def _action_timeout(package: Package | None) -> float:
    if package is None:
        return ACTION_SLACK
    total = ACTION_SLACK
    for us in (package.run_script_timeout_us, package.halt_script_timeout_us):
        total += (us or 0) / 1e6
    total += sum(s.halt_timeout_us for s in package.services) / 1e6
    return total
