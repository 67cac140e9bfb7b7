"""This node's packages: one runner per package that may run here, the coordinator's
orders (refused unless they carry this node's current epoch), what this node reports,
the stop-now plan kept current in the lease guard, and stop-now itself when the lease
is lost.

A package that fails here (a start that failed, a service out of restarts) is halted
here and reported in `failed_packages` until the replicated flags record the failure:
the coordinator then starts it elsewhere and never here again until an operator clears
the history (cmmodpkg -e).

A package in maintenance mode here (the replicated flags say so) is left alone: a
service that exits is not restarted and a failure (service, subnet, resource) is logged
and reported (`ailing`), not acted on; the coordinator's partial orders start or halt
some of its modules only.

A package whose halt (or stop-now) could not release everything is reported
`halt_unclean` for as long as anything is held here (packages/runner.py): the
coordinator starts it nowhere. A stop-now that was not clean is also recorded as the
guard records its own (`on_unclean_stop`): no package starts on this node until an
operator removes the record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from cluster.config.model import Config, Package
from cluster.core import events as alert
from cluster.daemon.configstore import ConfigStore
from cluster.daemon.flagfile import load_flags, replaces, save_flags
from cluster.daemon.package_events import PackageEvents
from cluster.daemon.package_report import package_report
from cluster.errors import CmError
from cluster.packages.build import package_runner
from cluster.packages.runner import Outcome, PackageRunner, State
from cluster.paths import HostPaths
from cluster.pb.v1 import common_pb2, package_pb2
from cluster.resources import mmp, stopnow
from cluster.resources.base import Health, Resource, ResourceError
from cluster.resources.ip import FloatingIP
from cluster.resources.service import Service

log = logging.getLogger("cmcld.packages")

HALT_ALL_TIMEOUT = 600.0  # cmhaltnode waits this long for its packages to move away


class PlanSink(Protocol):
    """Where the stop-now plan goes: the lease guard (daemon/leaseguard.py). `publish`
    raises (CmError, OSError) when the guard does not have the plan."""

    def publish(self, plan: stopnow.Plan) -> None: ...


@dataclass
class Epoch:
    """What this node knows of its membership, as the orders are checked against it."""

    number: int
    active: bool  # a member of that epoch, holding its lease
    coordinator: str


class LocalPackages:
    def __init__(
        self,
        *,
        node: str,
        paths: HostPaths,
        store: ConfigStore,
        epoch: Callable[[], Epoch],
        may_run: Callable[[], bool],
        plan_sink: PlanSink | None,
        blocked: Callable[[], str | None] = lambda: None,
        on_unclean_stop: Callable[[stopnow.Report, str], None] = lambda report, why: None,
    ) -> None:
        self.node = node
        self._paths = paths
        self._store = store
        self._epoch = epoch
        self._may_run = may_run
        self._blocked = blocked  # why no package may start here (no lease guard)
        self._on_unclean_stop = on_unclean_stop  # record it (daemon/leaseguard.py)
        self._sink = plan_sink
        self._published = stopnow.Plan(node)  # what the guard is known to hold
        self.runners: dict[str, PackageRunner] = {}
        self._specs: dict[str, Package] = {}
        self.halting = False
        self.failed_here: set[str] = set()
        self.subnets_down: dict[str, tuple[str, ...]] = {}  # MONITORED_SUBNETs down, per package
        self.flags = load_flags(paths)
        self.boot = time.time_ns()
        self.seq = 0
        self.on_report: Callable[[], None] = lambda: None  # push our report (coordinator)
        self.events = PackageEvents(node, lambda: self._epoch().number)  # alert scripts
        # Local LAN failover puts addresses where they belong now (daemon/lan.py): run
        # before a link is judged, so a failed link with a standby fails no package.
        self.settle: Callable[[], None] = lambda: None
        self._tasks: dict[str, asyncio.Task[Outcome]] = {}
        self._stopping_now = False
        self.mmp = mmp.History()

    # -- configuration -------------------------------------------------------------

    def reconfigure(self) -> None:
        """One runner per package that may run here; a package that runs keeps its
        resources until it halts (online changes that would touch it are refused)."""
        config = self._store.config
        wanted: dict[str, Package] = {}
        if config is not None and config.cluster.node(self.node) is not None:
            wanted = {
                p.name: p for p in config.packages if self.node in p.eligible_nodes(config.cluster)
            }
        for name in list(self.runners):
            runner = self.runners[name]
            if runner.active_resources() or runner.state in (State.STARTING, State.HALTING):
                continue
            if runner.unclean or runner.leftover:
                continue  # held until a halt here succeeds
            if wanted.get(name) != self._specs.get(name):
                del self.runners[name]
                self._specs.pop(name, None)
        for name, package in wanted.items():
            if name not in self.runners:
                self.runners[name] = self._runner(package, config)
                self._specs[name] = package

    def _runner(self, package: Package, config: Config | None) -> PackageRunner:
        assert config is not None
        return package_runner(
            package,
            config,
            self.node,
            self._paths,
            on_change=self.publish_plan,
            on_failure=self._failed,
            on_restart=self._restarted,
            may_run=self._may_run,
            in_maintenance=lambda: self.in_maintenance(package.name),
            mmp=self.mmp,
        )

    def _fresh(self, name: str) -> None:
        """New resource objects after stop-now: the old ones' state is gone."""
        config = self._store.config
        package = self._specs.get(name)
        if package is None or config is None:
            return
        self.runners[name] = self._runner(package, config)

    # -- the stop-now plan ------------------------------------------------------------

    def plan(self) -> stopnow.Plan:
        actions = [a for r in self.runners.values() for a in r.stop_now_actions()]
        return stopnow.build_plan(self.node, actions)

    def publish_plan(self) -> None:
        """Tell the guard before the change takes effect (drivers call this through
        Context.on_change before an irreversible step). When the guard cannot be told
        of an action it does not have yet, this raises ResourceError: that step must
        not happen, and the start fails (its started resources are released). A plan
        that only lost actions is logged: the guard keeps a larger one, whose extra
        actions find nothing left to stop."""
        if self._sink is None:
            return
        plan = self.plan()
        try:
            self._sink.publish(plan)
        except (CmError, OSError) as exc:
            new = [a for a in plan.actions if a not in self._published.actions]
            if new:
                raise ResourceError(
                    f"the lease guard could not be told of {new[0].label}: {exc}; "
                    "not going on without it"
                ) from None
            log.error("the lease guard keeps its previous stop-now plan: %s", exc)
            return
        self._published = plan

    # -- orders from the coordinator -------------------------------------------------

    async def execute(self, action: package_pb2.PackageAction) -> package_pb2.PackageReport:
        current = self._epoch()
        name = action.package_name
        if action.epoch != current.number or not current.active:
            raise CmError(
                f"order of epoch {action.epoch} refused: {self.node} is "
                + (f"in epoch {current.number}" if current.active else "not an active member")
            )
        runner = self.runners.get(name)
        if runner is None:
            raise CmError(f"package {name} may not run on {self.node} (not in its node list)")
        if action.config_generation and action.config_generation != self._store.generation:
            raise CmError(
                f"order for configuration generation {action.config_generation} refused: "
                f"{self.node} has generation {self._store.generation}"
            )
        if action.kind == package_pb2.PackageAction.KIND_START:
            if self.halting:
                raise CmError(f"{self.node} is halting: it starts no package")
            why = self._blocked()
            if why:
                raise CmError(f"{self.node} runs no package: {why}")
            if not self._may_run():
                raise CmError(f"{self.node} does not hold its lease: it starts no package")
            log.info("starting package %s: %s", name, action.reason)
            # A start of what is missing of a running package (maintenance mode) is no
            # package event: the package was up all along.
            whole = runner.state is not State.RUNNING
            if whole:
                self.events.package(
                    alert.Kind.PACKAGE_STARTING, name, action.reason, new="starting"
                )
            # Reported as starting from now on, before the task first runs: a report
            # asked for meanwhile must not show the package as nowhere.
            if runner.state is not State.RUNNING:
                runner.state = State.STARTING
            modules = tuple(action.modules)
            try:
                outcome = await self._track(name, self._start(runner, action.epoch, modules))
            finally:
                self.changed()
            if not outcome.ok and outcome.retry:
                # Held elsewhere for now (the duplicate-address probe), or the lease went
                # meanwhile: refused, so the coordinator retries after a back-off; not a
                # failure of this node (DESIGN.md §3).
                log.warning("package %s not started on %s: %s", name, self.node, outcome.detail)
                raise CmError(f"{name} not started on {self.node} for now: {outcome.detail}")
            if not outcome.ok:
                self.failed_here.add(name)
                self.changed()
                log.error("package %s failed to start on %s: %s", name, self.node, outcome.detail)
                self.events.package(
                    alert.Kind.PACKAGE_FAILED, name, outcome.detail, "starting", "failed"
                )
            elif whole:
                self.events.package(
                    alert.Kind.PACKAGE_STARTED, name, action.reason, "starting", "running"
                )
        elif action.kind == package_pb2.PackageAction.KIND_HALT:
            log.info("halting package %s: %s", name, action.reason)
            try:
                halted = await self._track(name, runner.halt(tuple(action.modules)))
            finally:
                self.changed()
            if not action.modules or not halted.clean:  # some modules only: still up
                self.events.halted(name, halted, action.reason)
        else:
            raise CmError(f"unknown package action kind {action.kind}")
        return self.report(name)

    async def _start(
        self, runner: PackageRunner, epoch: int, modules: tuple[str, ...] = ()
    ) -> Outcome:
        if self._epoch().number != epoch or self.halting:
            if runner.state is State.STARTING and not runner.active_resources():
                runner.state = State.HALTED
            raise CmError(f"order of epoch {epoch} refused: a new membership was decided")
        return await runner.start(takeover=True, modules=modules)

    async def _track(self, name: str, work: Coroutine[Any, Any, Outcome]) -> Outcome:
        """Run a start or halt as a task stop-now can cancel."""
        task = asyncio.ensure_future(work)
        self._tasks[name] = task
        try:
            return await task
        finally:
            if self._tasks.get(name) is task:
                del self._tasks[name]

    def _counts(self, runner: PackageRunner) -> bool:
        """A failure of this runner is the package's (not stop-now's, nor a lost lease's)."""
        current = self.runners.get(runner.name) is runner
        return current and not self._stopping_now and self._may_run()

    def _restarted(self, runner: PackageRunner, resource: Resource, why: str) -> None:
        if isinstance(resource, Service):
            what = f"service {resource.name} {why}; restart {resource.restart_text()}"
            self.events.service(alert.Kind.SERVICE_RESTARTED, runner.name, resource.name, what)

    def _failed(self, runner: PackageRunner, resource: Resource, health: Health) -> None:
        """A running resource failed for good (a service out of restarts): halt the
        package here; the coordinator moves it."""
        if isinstance(resource, Service) and not health.ok and self._counts(runner):
            self.events.service(
                alert.Kind.SERVICE_FAILED, runner.name, resource.name, health.reason
            )
        if not health.ok:
            self.package_failed(runner, f"{resource.label}: {health.reason}", health.fail_fast)

    def package_failed(self, runner: PackageRunner, why: str, fail_fast: bool = False) -> None:
        if self._stopping_now or self.runners.get(runner.name) is not runner:
            return
        if not self._may_run():
            # Killed by stop-now (ours or the guard's) or died after the lease was lost:
            # the node failed, not the package; no failure history is recorded.
            log.warning("package %s on %s: %s (the lease is lost)", runner.name, self.node, why)
            return
        if runner.name in self.failed_here and runner.state is not State.RUNNING:
            return  # already being halted
        topping_up = runner.state is State.STARTING and bool(runner.active_resources())
        if self.in_maintenance(runner.name) and (runner.state is State.RUNNING or topping_up):
            if why != runner.ignored:
                log.warning(
                    "package %s on %s: %s; maintenance mode: not failed over or restarted",
                    runner.name,
                    self.node,
                    why,
                )
                runner.ignored = why
                self.changed()
            return
        log.error(
            "package %s failed on %s: %s%s",
            runner.name,
            self.node,
            why,
            "; SERVICE_FAIL_FAST_ENABLED: this node halts at once" if fail_fast else "",
        )
        self.failed_here.add(runner.name)
        runner.last_error = why
        self.events.package(alert.Kind.PACKAGE_FAILED, runner.name, why, "running", "failed")
        if fail_fast:
            self._fail_fast()
            return
        asyncio.get_running_loop().create_task(self._halt_failed(runner))

    def in_maintenance(self, name: str) -> bool:
        """cmmodpkg -m on put the package in maintenance mode on this node."""
        return any(
            f.package_name == name and f.maintenance_node == self.node for f in self.flags.packages
        )

    # -- local LAN failover ------------------------------------------------------------

    def floating_addresses(self) -> dict[str, tuple[str, bool]]:
        """Floating IPs up or being added here: address -> (package, whether it
        allows LOCAL_LAN_FAILOVER)."""
        found: dict[str, tuple[str, bool]] = {}
        for name, runner in self.runners.items():
            spec = self._specs.get(name)
            for resource in runner.resources:
                if isinstance(resource, FloatingIP) and resource.active:
                    found[resource.address] = (name, spec is not None and spec.local_lan_failover)
        return found

    def address_stranded(self, name: str, why: str) -> None:
        """Its interface failed and the address may not follow local LAN failover."""
        runner = self.runners.get(name)
        if runner is not None and runner.state is State.RUNNING:
            self.package_failed(runner, why)

    @property
    def specs(self) -> dict[str, Package]:
        """The configuration of each package that may run here."""
        return self._specs

    @property
    def stopping_now(self) -> bool:
        return self._stopping_now

    def may_run(self) -> bool:
        """This node holds its lease and its guard listens."""
        return self._may_run()

    def poll_interval(self) -> float:
        """NETWORK_POLLING_INTERVAL in seconds (2 s without a configuration)."""
        config = self._store.config
        interval = config.cluster.network_polling_interval_us / 1e6 if config else 2.0
        return max(interval, 0.2)

    async def _halt_failed(self, runner: PackageRunner) -> None:
        self.changed()
        halted = await self._track(runner.name, runner.halt())
        self.changed()
        self.events.halted(runner.name, halted, f"it failed here: {runner.last_error}")

    def _fail_fast(self) -> None:
        """Serviceguard halts the node (TOC): everything stops now and cmcld exits
        without leaving, so the others re-form without it after MEMBER_TIMEOUT."""
        report = self.stop_now("SERVICE_FAIL_FAST_ENABLED")
        log.critical(
            "fail-fast: stop-now %s; cmcld exits now", "clean" if report.clean else "NOT clean"
        )
        logging.shutdown()
        os._exit(70)

    # -- lease loss --------------------------------------------------------------------

    def stop_now(self, why: str) -> stopnow.Report:
        """Undo everything at once (the lease is lost, or cmcld stops holding what it
        could not halt): no asyncio, no waiting. In-flight starts and halts are
        cancelled; runners start over with fresh resources, but what could not be
        undone stays in the guard's plan (the runner's `leftover`, the package unclean)
        and an unclean stop is recorded (`on_unclean_stop`). Never raises."""
        self._stopping_now = True
        try:
            plan = self.plan()
            report = stopnow.execute(plan)
            for name, task in list(self._tasks.items()):
                task.cancel()
                del self._tasks[name]
            # A cancelled start may have got further meanwhile: once more, idempotent.
            second = self.plan()
            again = stopnow.execute(second)
            done = [
                *zip(plan.actions, report.outcomes, strict=True),
                *zip(second.actions, again.outcomes, strict=True),
            ]
            held: dict[str, list[stopnow.StopNowAction]] = {}
            for action, o in done:
                if not o.ok:
                    log.error("stop-now %s (%s): %s", o.label, o.package, o.detail)
                    kept = held.setdefault(o.package, [])
                    if stopnow.still_held(action) not in kept:
                        kept.append(stopnow.still_held(action))
            for name in list(self.runners):
                was = self.runners[name]
                if was.state is State.HALTED and not (was.active_resources() or was.unclean):
                    continue  # held nothing: keeps its runner
                self._fresh(name)
                runner = self.runners[name]
                if name in held:
                    runner.state, runner.unclean, runner.leftover = State.FAILED, True, held[name]
                    runner.last_error = "stop-now left " + ", ".join(a.label for a in held[name])
                elif was.state is not State.HALTED:
                    log.warning("package %s stopped now on %s (%s)", name, self.node, why)
            whole = stopnow.Report(
                report.started_ns, again.finished_ns, report.outcomes + again.outcomes
            )
            try:
                self.publish_plan()  # what is still held stays in the guard's plan
            except ResourceError as exc:
                log.error("after stop-now: %s", exc)
            if plan.actions or held:
                log.warning(
                    "stop-now (%s): %d actions in %.1f ms, %s",
                    why,
                    len(plan.actions),
                    whole.elapsed_ns / 1e6,
                    "clean" if not held else "NOT clean: " + ", ".join(sorted(held)),
                )
            if held:
                self._on_unclean_stop(whole, why)
            return whole
        finally:
            self._stopping_now = False

    # -- cmhaltnode ---------------------------------------------------------------------

    def active(self) -> list[str]:
        """Packages that hold something here: running, in transition, or unclean."""
        return sorted(
            n
            for n, r in self.runners.items()
            if r.state in (State.STARTING, State.RUNNING, State.HALTING)
            or r.active_resources()
            or r.unclean
            or r.leftover
        )

    def unclean(self) -> list[str]:
        """Packages whose last halt or stop-now left something held here."""
        return sorted(n for n, r in self.runners.items() if r.unclean or r.leftover)

    async def halt_all_here(self) -> None:
        """Halt every package here without the coordinator (no cluster, or the last
        member leaving), in reverse dependency order as far as the names allow."""
        for name in reversed(self.active()):
            await self._track(name, self.runners[name].halt())
        self.changed()

    # -- reports -----------------------------------------------------------------------

    def report(self, name: str) -> package_pb2.PackageReport:
        return package_report(self.node, self.runners[name], self.subnets_down.get(name, ()))

    def node_report(self) -> package_pb2.NodePackages:
        """What this node holds: packages that are not simply halted here."""
        current = self._epoch()
        why = self._blocked() or ""
        held = [
            self.report(name)
            for name, r in sorted(self.runners.items())
            if r.state is not State.HALTED or r.active_resources() or r.unclean or r.leftover
        ]
        return package_pb2.NodePackages(
            epoch=current.number,
            node_name=self.node,
            packages=[
                r for r in held if r.state != common_pb2.PACKAGE_STATE_FAILED or r.halt_unclean
            ],
            # A member that cannot run packages (no lease guard: it did not start, or
            # an unclean stop-now awaits an operator) is treated as halting: nothing
            # is started on it, and `blocked` says why.
            halting=self.halting or bool(why) or (current.active and not self._may_run()),
            blocked=why,
            flags=self.flags,
            failed_packages=sorted(self.failed_here),
            seq=self.seq,
            boot=self.boot,
        )

    def all_reports(self) -> list[package_pb2.PackageReport]:
        """Every package that may run here, halted ones too (for cmviewcl)."""
        return [self.report(name) for name in sorted(self.runners)]

    def changed(self) -> None:
        self.seq += 1
        self.on_report()

    def set_flags(self, flags: package_pb2.PackageFlags) -> bool:
        """Adopt newer replicated flags (ignored when not newer); forget failures the
        history now holds."""
        if not replaces(self.flags, flags, self._epoch().number):
            return False
        self.flags = flags
        save_flags(self._paths, flags)
        recorded = {f.package_name for f in flags.packages if self.node in f.failed_nodes}
        self.failed_here -= recorded
        return True
