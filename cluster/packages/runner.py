"""One package on this node: its start and halt sequences and its state.

Start runs the resources in order, each step bounded by its timeout and logged to the
package log ($CMCLUSTER_ROOT/var/log/cmcluster/PKG.log, and the daemon log); a failed
step is stopped itself (what it did in part), then what was started before it, in
reverse, and the package is left failed. Halt runs the exact reverse of start. The
stop-now path (the lease is lost) does not come through here: it executes the plan
built from `stop_now_actions()`, fast and without asyncio.

A halt that could not release everything (a filesystem detached lazily, a volume group
that would not deactivate, a process group that survived, an address that could not
be removed), or a stop-now that left something (`leftover`), makes the package
`unclean` (Serviceguard's halt_aborted): it is reported so, and the cluster starts it
nowhere until a halt here succeeds (cmhaltpkg retries it) or the kernel shows what was
held let go (`reclaim`: a lazily detached filesystem whose last user exited).

In maintenance mode (cmmodpkg -m on) a package may be started in part and halted in
part (`modules`, see packages/modules.py): it is RUNNING while anything of it is up,
and `modules_down()` says what is not.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import logging.handlers
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cluster.packages.modules import MODULE_OF_KIND, NAMES
from cluster.resources import stopnow
from cluster.resources.base import Context, Health, NotNow, Resource, ResourceError
from cluster.resources.mmp import History
from cluster.resources.service import Service
from cluster.resources.stopnow import StopNowAction

DEFAULT_STEP_TIMEOUT = 120.0  # seconds for a step without a configured timeout
DEFAULT_MONITOR_TIMEOUT = 20.0  # seconds for one check of a resource without its own


class State(enum.Enum):
    HALTED = "halted"
    STARTING = "starting"
    RUNNING = "running"
    HALTING = "halting"
    FAILED = "failed"


@dataclass
class Outcome:
    ok: bool
    detail: str
    clean: bool = True  # a halt that left nothing behind
    retry: bool = False  # a start refused for now (NotNow), not a failure of the package


def package_logger(name: str, log_dir: Path) -> logging.Logger:
    """The package's own log file; records also reach the daemon's log."""
    logger = logging.getLogger(f"cmcld.pkg.{name}")
    path = log_dir / f"{name}.log"
    if not any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
            )
        )
        logger.addHandler(handler)
    return logger


@dataclass
class PackageRunner:
    name: str
    node: str
    resources: list[Resource]
    log: logging.Logger
    output: Path  # children's stdout/stderr go here too (the package log file)
    env: dict[str, str] = field(default_factory=dict)
    on_change: Callable[[], None] = lambda: None  # stop-now actions changed: republish
    on_failure: Callable[[PackageRunner, Resource, Health], None] = lambda *_: None
    on_restart: Callable[[PackageRunner, Resource, str], None] = lambda *_: None
    may_run: Callable[[], bool] = lambda: True
    in_maintenance: Callable[[], bool] = lambda: False  # cmmodpkg -m on, on this node
    mmp: History | None = None  # the daemon's MMP samples, for takeovers
    state: State = State.HALTED
    last_error: str = ""
    unclean: bool = False  # the last halt (or stop-now) left something held here
    ignored: str = ""  # the last failure maintenance mode did not act on
    leftover: list[StopNowAction] = field(default_factory=list)  # what stop-now could not undo
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _ctx(self, resource: Resource, timeout: float | None, takeover: bool = False) -> Context:
        return Context(
            package=self.name,
            node=self.node,
            log=self.log,
            env=self.env,
            timeout=timeout,
            output=self.output,
            takeover=takeover,
            mmp=self.mmp,
            on_change=self.on_change,
            on_failure=lambda res, health: self.on_failure(self, res, health),
            may_run=self.may_run,
            maintenance=self.in_maintenance,
            on_restart=lambda res, why: self.on_restart(self, res, why),
        )

    @staticmethod
    def _timeout(resource: Resource) -> float | None:
        # Scripts and services carry their own configured limits.
        return (
            None if getattr(resource, "kind", "") in ("script", "service") else DEFAULT_STEP_TIMEOUT
        )

    async def start(self, takeover: bool = False, modules: tuple[str, ...] = ()) -> Outcome:
        """Start the package (`modules`: only those, maintenance mode); on a package
        running in part, start what is missing of them."""
        async with self._lock:
            todo = [
                r for r in self.resources if not r.active and (not modules or _module(r) in modules)
            ]
            if self.state is State.RUNNING and not todo:
                return Outcome(True, "already running")
            topping_up = self.state is State.RUNNING
            self.state, self.last_error, self.ignored = State.STARTING, "", ""
            self.on_change()
            part = f" ({', '.join(modules)})" if modules else ""
            what = "what is missing of" if topping_up else "starting"
            self.log.info("%s package %s%s on %s", what, self.name, part, self.node)
            began = time.monotonic()
            started: list[Resource] = [r for r in self.resources if r.active]
            for resource in todo:
                step = time.monotonic()
                try:
                    await resource.start(self._ctx(resource, self._timeout(resource), takeover))
                except ResourceError as exc:
                    self.last_error = f"{resource.label}: {exc}"
                    self.log.error(
                        "start failed at %s: %s; halting what was started", resource.label, exc
                    )
                    self.on_change()
                    # The failed step too: an agent or a run script may have done part
                    # of its work (OCF: stop follows a failed start; the halt script
                    # follows a failed run script). A step that did nothing is inactive
                    # and skipped.
                    up = {id(r) for r in started}
                    undo = [r for r in reversed(self.resources) if id(r) in up]
                    clean = await self._halt([resource, *undo])
                    self.unclean = not clean
                    if isinstance(exc, NotNow) and clean:
                        # Nothing held here and nothing wrong with the package.
                        self.state = State.HALTED
                        self.on_change()
                        return Outcome(False, self.last_error, retry=True)
                    self.state = State.FAILED
                    self.on_change()
                    return Outcome(False, self.last_error)
                started.append(resource)
                self.log.info(
                    "started %s (%.0f ms)", resource.label, (time.monotonic() - step) * 1000
                )
            self.state = State.RUNNING
            down = self.modules_down()
            self.log.info(
                "package %s running on %s%s (%.0f ms)",
                self.name,
                self.node,
                f", without {', '.join(down)} (maintenance mode)" if down else "",
                (time.monotonic() - began) * 1000,
            )
            return Outcome(True, "running")

    async def halt(self, modules: tuple[str, ...] = ()) -> Outcome:
        if modules:
            return await self._halt_part(modules)
        async with self._lock:
            idle = self.state in (State.HALTED, State.FAILED) and not self.active_resources()
            if idle and not self.unclean and not self.leftover:
                return Outcome(True, "not running")
            self.state = State.HALTING
            self.log.info(
                "halting package %s on %s%s",
                self.name,
                self.node,
                " again (the last halt was not clean)" if self.unclean else "",
            )
            clean = await self._halt(list(reversed(self.resources)))
            if self.leftover:
                clean = await self._halt_leftover() and clean
            self.unclean = not clean
            self.state = State.HALTED if clean else State.FAILED
            self.last_error = "" if clean else self._unclean_detail()
            self.on_change()
            self.log.info("package %s halted%s", self.name, "" if clean else " UNCLEANLY")
            return Outcome(clean, "halted" if clean else self.last_error, clean)

    async def _halt_part(self, modules: tuple[str, ...]) -> Outcome:
        """Halt some modules of a running package only (maintenance mode): it stays
        RUNNING while anything else of it is up."""
        async with self._lock:
            if self.state is not State.RUNNING:
                return Outcome(False, f"not running ({self.state.value})")
            self.state = State.HALTING
            self.log.info(
                "halting %s of package %s on %s", ", ".join(modules), self.name, self.node
            )
            chosen = [r for r in reversed(self.resources) if _module(r) in modules]
            clean = await self._halt(chosen)
            self.unclean = not clean
            if not clean:
                self.state, self.last_error = State.FAILED, self._unclean_detail()
            else:
                self.state = State.RUNNING if self.active_resources() else State.HALTED
            self.on_change()
            return Outcome(clean, "halted" if clean else self.last_error, clean)

    def modules_down(self) -> list[str]:
        """Modules of a running package that are not (wholly) up: a partial start, a
        partial halt, or a service that died in maintenance mode."""
        if self.state is not State.RUNNING:
            return []
        down = {_module(r) for r in self.resources if not r.active}
        return [name for name in NAMES if name in down]

    def _unclean_detail(self) -> str:
        held = [r.label for r in self.active_resources()] + [a.label for a in self.leftover]
        return "could not halt cleanly: " + (", ".join(held) or "see the package log") + " held"

    async def _halt_leftover(self) -> bool:
        """Stop again what a stop-now could not (each action finds out from the kernel
        whether anything is left); what still fails stays in the plan."""
        plan = stopnow.Plan(self.node, tuple(self.leftover))
        report = await asyncio.to_thread(stopnow.execute, plan)
        for action, outcome in zip(plan.actions, report.outcomes, strict=True):
            level = logging.INFO if outcome.ok else logging.ERROR
            self.log.log(level, "halting %s (left by stop-now): %s", action.label, outcome.detail)
        self.leftover = [a for a, o in zip(plan.actions, report.outcomes, strict=True) if not o.ok]
        return not self.leftover

    async def reclaim(self) -> bool:
        """An unclean package whose held resources the kernel shows let go after all
        (a lazily detached filesystem whose last user exited, MMP saying unmounted):
        clean now. False when anything is still held or cannot be told."""
        if not self.unclean or self.leftover or self._lock.locked():
            return False
        async with self._lock:
            held = self.active_resources()
            if not held or self.state is not State.FAILED:
                return False
            for resource in held:
                if not await resource.released(self._ctx(resource, None)):
                    return False
            self.unclean, self.state, self.last_error = False, State.HALTED, ""
            self.on_change()
            self.log.info("package %s: everything it held here is released", self.name)
            return True

    async def _halt(self, resources: list[Resource]) -> bool:
        clean = True
        for resource in resources:
            if not resource.active:
                continue
            step = time.monotonic()
            try:
                await resource.stop(self._ctx(resource, self._timeout(resource)))
            except ResourceError as exc:
                clean = False
                self.log.error("halting %s failed: %s", resource.label, exc)
                continue
            self.log.info("halted %s (%.0f ms)", resource.label, (time.monotonic() - step) * 1000)
        return clean

    async def check(self) -> tuple[Resource, Health] | None:
        """Monitor every resource of a running package but its services (which watch
        their own processes): the first that failed, with why; None while healthy, or
        while a start or halt is under way."""
        for resource in self.resources:
            if self.state is not State.RUNNING or self._lock.locked():
                return None
            if isinstance(resource, Service) or not resource.active:
                continue  # services watch themselves; a module not started is not checked
            timeout = getattr(resource, "monitor_timeout", DEFAULT_MONITOR_TIMEOUT)
            try:
                health = await asyncio.wait_for(
                    resource.monitor(self._ctx(resource, timeout)), timeout
                )
            except TimeoutError:
                health = Health.failed(f"monitor did not answer within {timeout:g} s")
            if not health.ok and self.state is State.RUNNING and not self._lock.locked():
                return resource, health
        return None

    def active_resources(self) -> list[Resource]:
        return [r for r in self.resources if r.active]

    def stop_now_actions(self) -> list[StopNowAction]:
        """Undo in reverse start order, as halt does; then what a stop-now left."""
        actions = [a for r in reversed(self.resources) for a in r.stop_now_actions()]
        return actions + [a for a in self.leftover if a not in actions]

    def services(self) -> list[Service]:
        return [r for r in self.resources if isinstance(r, Service)]


def _module(resource: Resource) -> str:
    return MODULE_OF_KIND.get(resource.kind, resource.kind)
