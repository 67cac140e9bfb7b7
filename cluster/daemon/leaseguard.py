"""The lease guard as cmcld holds it, and the rules that keep every package within its
reach (DESIGN §2, "Nothing runs outside the lease's reach"):

- Before it may join, a starting cmcld stops whatever the previous one left in the
  guard's plan (`stopnow.json`: a cmcld killed with its services running), and renews
  a guard it finds only once that guard's plan is its own (empty). `stop_leftovers`.
- No guard, or an unclean stop-now record (the guard's, or that first stop's) not yet
  cleared by an operator: no package starts here. The node may still be a member (it
  votes); it reports itself unable to run packages (`GuardLink.problem`, sent to the
  coordinator as NodePackages.blocked, shown by cmviewcl -v) and tries again every
  GUARD_RETRY seconds while it holds a lease, so a cleared record lifts it.
- A plan the guard cannot be told of raises (`GuardLink.publish`): the start that
  needed it fails and releases what it started (daemon/packages.py publish_plan).
- cmcld's own stop-now that was not clean is recorded as the guard's would be
  (`GuardLink.stopped_unclean`); what it could not stop stays in the guard's plan, and
  the guard is never disarmed while that record stands (it fires at its deadline).

An operator clears an unclean record by removing it (`Guard.fired_path`) after
checking the host: nothing else does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.core.timing import MIN_STOP_MARGIN
from cluster.errors import CmError
from cluster.guard import protocol
from cluster.guard.client import Guard, GuardError, GuardFired, GuardGone
from cluster.paths import HostPaths
from cluster.resources import stopnow

log = logging.getLogger("cmcld.guard")

GUARD_RETRY = 5.0  # seconds between attempts to start a missing guard
RETIRE_WAIT = 5.0  # seconds a retired guard is given to exit


class GuardUnavailable(CmError):
    """No lease guard can run here now; `str()` says why (log, cmviewcl -v)."""


def watchdog_warnings(paths: HostPaths, node: str) -> list[str]:
    """cmviewcl -v: a configured watchdog that would not reset a frozen host before its
    lease ends, as the running guard last said (its status file)."""
    status = protocol.read_json(protocol.GuardFiles.from_paths(paths).status) or {}
    watchdog = status.get("watchdog")
    if not isinstance(watchdog, dict) or watchdog.get("protects_frozen_host"):
        return []
    problem = watchdog.get("problem") or "not fitted to the lease yet"
    device = watchdog.get("device")
    return [f"{node}: watchdog {device} would not reset this host frozen in time: {problem}"]


def record_problem(record: dict[str, Any], paths: HostPaths) -> str | None:
    """Why an unclean stop-now record forbids packages here (None: it was clean)."""
    report = record.get("report") or {}
    if report.get("clean", False):
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("wall_time", 0)))
    failed = [
        f"{o.get('label')} of {o.get('package')}: {o.get('detail')}"
        for o in report.get("outcomes", ())
        if not o.get("ok")
    ]
    by = record.get("by") or "the lease guard"
    return (
        f"the stop-now by {by} at {when} was NOT clean ({'; '.join(failed) or 'no detail'}): "
        f"resources may still be held here; check this host, then remove "
        f"{Guard.fired_path(paths)}"
    )


def new_guard(paths: HostPaths, node: str, watchdog: str | None) -> Guard:
    """A new guard, after retiring the previous one (it fired, died, or was left by an
    earlier cmcld). GuardUnavailable when it cannot start, or while an unclean
    stop-now record stands: packages never start here until an operator cleared it."""
    _check_record(paths)
    old = Guard.running_pid(paths)
    if old:
        log.warning("retiring the previous lease guard (pid %d)", old)
        with contextlib.suppress(ProcessLookupError):
            os.kill(old, signal.SIGTERM)  # our own guard, by its recorded pid
        deadline = time.monotonic() + RETIRE_WAIT
        while Guard.running_pid(paths) and time.monotonic() < deadline:
            time.sleep(0.02)
        _check_record(paths)  # it may have fired meanwhile
    try:
        guard = Guard.start(paths, node=node, margin_ns=MIN_STOP_MARGIN, watchdog=watchdog)
    except (GuardError, OSError) as exc:
        raise GuardUnavailable(f"the lease guard could not start: {exc}") from None
    log.info(
        "lease guard started (pid %d)%s", guard.pid, f", watchdog {watchdog}" if watchdog else ""
    )
    return guard


def _check_record(paths: HostPaths) -> None:
    record = Guard.fired_record(paths)
    if record is None:
        return
    problem = record_problem(record, paths)
    if problem is not None:
        raise GuardUnavailable(problem)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("wall_time", 0)))
    log.warning(
        "the stop-now by %s at %s was clean (cmcld was not renewing the lease); record cleared",
        record.get("by") or "the lease guard",
        when,
    )
    Guard.clear_fired(paths)


def stop_leftovers(paths: HostPaths, node: str) -> None:
    """Stop what the previous cmcld left running before this one may join: every action
    of the plan it last gave its guard (services killed by process group, addresses
    deleted, filesystems unmounted, volume groups deactivated; each finds out from the
    kernel whether there is anything left to do). Afterwards the plan is empty, so a
    guard still running from then guards nothing this cmcld does not know of. A stop
    that was not clean is recorded as a guard's would be, and GuardUnavailable says so."""
    files = protocol.GuardFiles.from_paths(paths)
    try:
        plan = stopnow.load_plan(files.plan, node)
    except (OSError, stopnow.PlanError) as exc:
        # Kept aside for the operator, so a later start does not stumble on it again.
        aside = files.plan.with_name(files.plan.name + ".unreadable")
        with contextlib.suppress(OSError):
            files.plan.rename(aside)
        why = f"the previous stop-now plan cannot be read ({exc}; kept as {aside.name})"
        raise GuardUnavailable(_record_unclean(paths, node, why)) from None
    plan = _since_boot(plan, files.plan)
    if not plan.actions:
        return
    log.warning(
        "the previous cmcld left %d action(s) in the lease guard's plan (%s): stopping "
        "them before this node may join",
        len(plan.actions),
        ", ".join(sorted({a.package for a in plan.actions})),
    )
    report = stopnow.execute(plan)
    for o in report.outcomes:
        log.log(
            logging.INFO if o.ok else logging.ERROR,
            "  %s (%s): %s %s",
            o.label,
            o.package,
            "ok" if o.ok else "FAILED",
            o.detail,
        )
    if not report.clean:
        raise GuardUnavailable(_record(paths, node, report.to_dict()))
    log.warning(
        "stopped what the previous cmcld left in %.1f ms: taken over", report.elapsed_ns / 1e6
    )
    try:
        stopnow.save_plan(files.plan, stopnow.Plan(node))
    except OSError as exc:  # the old plan stays: stopping it again is harmless
        log.error("cannot empty %s: %s", files.plan, exc)


def _since_boot(plan: stopnow.Plan, path: Path) -> stopnow.Plan:
    """A plan written before this boot names processes that died with it, whose
    numbers may belong to strangers now: its process groups are dropped."""
    try:
        written = path.stat().st_mtime
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return plan
    if written >= boot:
        return plan
    kept = tuple(a for a in plan.actions if not isinstance(a, stopnow.KillGroup))
    return stopnow.Plan(plan.node, kept)


def _record(paths: HostPaths, node: str, report: dict[str, Any], by: str = "cmcld at start") -> str:
    """Write an unclean stop-now record as the guard does; the problem it states."""
    record = {"node": node, "wall_time": time.time(), "by": by, "report": report}
    try:
        protocol.write_json(Guard.fired_path(paths), record)
    except OSError as exc:
        log.error("cannot record the unclean stop in %s: %s", Guard.fired_path(paths), exc)
    return record_problem(record, paths) or "the stop-now at start was NOT clean"


def _record_unclean(paths: HostPaths, node: str, detail: str) -> str:
    outcome = {"kind": "plan", "package": "-", "label": "plan", "ok": False, "detail": detail}
    return _record(paths, node, {"clean": False, "outcomes": [outcome]})


def open_guard(paths: HostPaths, node: str, watchdog: Callable[[], str | None]) -> GuardLink:
    """The guard of this cmcld, at start (blocking: run it in a thread): leftovers
    stopped first, then the running guard reattached (its plan now empty) or a new one.
    A link without a guard when none can run; it says why and retries."""

    def revive() -> Guard:
        return new_guard(paths, node, watchdog())

    try:
        stop_leftovers(paths, node)
        _check_record(paths)  # an earlier cmcld's unclean stop-now: its guard may run on
    except GuardUnavailable as exc:
        # A guard left running keeps the old plan and fires at its deadline: it is
        # never renewed by this cmcld.
        log.error("no package starts on this node: %s", exc)
        return GuardLink(None, revive=revive, problem=str(exc), paths=paths, node=node)
    if Guard.running_pid(paths):
        try:
            guard = Guard.attach(paths)
            if guard.status().state != protocol.FIRED and guard.listening():
                guard.publish_plan(stopnow.Plan(node))  # its plan is ours now: nothing yet
                log.info("reattached to the running lease guard (pid %d)", guard.pid)
                return GuardLink(guard, revive=revive, started_here=False, paths=paths, node=node)
        except (GuardError, OSError) as exc:
            log.warning("the running lease guard cannot be reattached: %s", exc)
    try:
        return GuardLink(revive(), revive=revive, paths=paths, node=node)
    except GuardUnavailable as exc:
        log.error("no package starts on this node: %s", exc)
        return GuardLink(None, revive=revive, problem=str(exc), paths=paths, node=node)


class GuardLink:
    """The guard as cmcld uses it. Renewals, margins and disarming never raise into the
    membership loop (the lease then simply runs out on the guard's side); a plan that
    cannot be published does raise, so the start that needed it fails. Without a guard
    (`problem` says why) it retries in the background while the node holds a lease."""

    def __init__(
        self,
        guard: Guard | None,
        *,
        revive: Callable[[], Guard] | None = None,
        started_here: bool = True,
        problem: str | None = None,
        paths: HostPaths | None = None,
        node: str = "",
    ) -> None:
        self._guard = guard
        self._paths, self._node = paths, node
        self._unclean: str | None = None  # cmcld's own stop-now left something held
        self.started_here = started_here  # False: reattached to a previous cmcld's guard
        self._revive = revive
        self._problem = problem if guard is None else None
        self._margin: int | None = None
        self._watchdog_limit = 0  # ns; sent with the margin (cluster/config/stopbound.py)
        self._lease = 0  # MEMBER_TIMEOUT ns, for the guard's feed rule
        self._last_try = time.monotonic() if guard is None else 0.0
        self._retrying: asyncio.Task[None] | None = None
        self.on_change: Callable[[], None] = lambda: None  # the problem appeared or went

    # -- whether packages may run here -------------------------------------------------

    def problem(self) -> str | None:
        """Why no package may start on this node (None: a guard listens, and no unclean
        stop-now record of cmcld's stands)."""
        if self._unclean is not None and not self._record_stands():
            log.warning("the unclean stop-now record was removed: packages may run here")
            self._unclean = None
        if self._guard is None:
            return f"the lease guard is not running: {self._problem or 'not started'}"
        return self._unclean

    def _record_stands(self) -> bool:
        if self._paths is None:
            return True  # nowhere to look: only a new guard lifts it
        record = Guard.fired_record(self._paths)
        return record is not None and record_problem(record, self._paths) is not None

    def stopped_unclean(self, report: stopnow.Report, why: str) -> None:
        """cmcld's own stop-now left something held: recorded as the guard records its
        own, so no package starts here until an operator removes the record; the guard
        keeps its plan (what is held) and is not disarmed meanwhile."""
        if self._paths is None:
            problem = f"the stop-now by cmcld ({why}) was NOT clean"
        else:
            problem = _record(self._paths, self._node, report.to_dict(), f"cmcld ({why})")
        self._unclean = problem
        log.error("no package starts on this node: %s", problem)
        self.on_change()

    def listening(self) -> bool:
        return self._guard is not None and self._guard.listening()

    # -- the lease ---------------------------------------------------------------------

    def renew(self, deadline: int) -> None:
        if self._guard is None:
            self._retry_soon()
            return
        try:
            self._guard.renew(deadline)
        except (GuardFired, GuardGone) as exc:
            # A new lease after the guard fired (this node was cut off or frozen, and
            # has rejoined): a fresh guard, if the last stop-now was clean.
            log.warning("lease guard: %s; starting a new one", exc)
            self._lost(f"{exc}; a new one is being started")
            self._retry_soon(at_once=True)
        except GuardError as exc:
            log.error("lease guard: %s", exc)

    def _lost(self, why: str) -> None:
        self._guard, self._problem = None, why
        self.on_change()

    def _retry_soon(self, at_once: bool = False) -> None:
        if self._revive is None or (self._retrying is not None and not self._retrying.done()):
            return
        if not at_once and time.monotonic() - self._last_try < GUARD_RETRY:
            return
        self._last_try = time.monotonic()
        with contextlib.suppress(RuntimeError):  # no loop: cmcld is stopping
            self._retrying = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        assert self._revive is not None
        try:
            guard = await asyncio.to_thread(self._revive)
        except GuardUnavailable as exc:
            if str(exc) != self._problem:
                log.error("no package starts on this node: %s", exc)
                self._problem = str(exc)
                self.on_change()
            return
        self._guard, self._problem, self._unclean = guard, None, None  # the record is gone
        if self._margin is not None:
            self.set_margin(self._margin)
        log.warning("lease guard running again (pid %d): packages may run here", guard.pid)
        self.on_change()

    def set_margin(
        self, margin: int, watchdog_limit: int | None = None, lease: int | None = None
    ) -> None:
        """STOP_MARGIN, the longest watchdog timeout the lease allows, and the lease
        length, MEMBER_TIMEOUT (a new guard gets them all again)."""
        self._margin = margin
        if watchdog_limit is not None and lease is not None:
            self._watchdog_limit, self._lease = watchdog_limit, lease
        if self._guard is None:
            return
        try:
            self._guard.set_margin(margin)
            if self._watchdog_limit:
                self._guard.set_watchdog_limit(self._watchdog_limit, self._lease)
        except GuardError as exc:
            log.error("lease guard: %s", exc)

    def disarm(self) -> None:
        """No lease and nothing held any more. Refused while an unclean stop-now of
        cmcld's stands: the guard then fires at its deadline with what is held."""
        if self._guard is None:
            return
        if self.problem() is not None:
            log.warning("the lease guard stays armed: %s", self.problem())
            return
        try:
            self._guard.disarm()
        except GuardError as exc:
            log.error("lease guard: %s", exc)

    # -- the plan ----------------------------------------------------------------------

    def publish(self, plan: stopnow.Plan) -> None:
        """Give the guard this plan. Raises GuardError (or OSError: the plan file could
        not be written) when the guard does not have it: the caller decides whether
        what was to happen may happen anyway (daemon/packages.py publish_plan)."""
        if self._guard is None:
            if plan.actions:
                raise GuardUnavailable(self.problem() or "no lease guard")
            return
        self._guard.publish_plan(plan)

    # -- the watchdog and the end ------------------------------------------------------

    def refit(self, watchdog: str | None) -> None:
        """Give the guard the applied configuration's WATCHDOG_DEVICE: the guard opens
        the device when it starts (cmcld starts one before any configuration exists),
        so a different device means a new guard. Only while it holds no lease (the
        parameter changes only with the cluster halted), so protection never lapses."""
        if self._guard is None:
            return  # a guard started later reads the configuration then
        status = self._guard.status()
        current = (status.watchdog or {}).get("device")
        if current == watchdog or self._revive is None:
            return
        if status.state != protocol.IDLE:
            log.warning(
                "lease guard: WATCHDOG_DEVICE is now %s but the guard (%s) keeps %s until "
                "this node next holds no lease",
                watchdog or "unset",
                status.state,
                current or "none",
            )
            return
        log.info("lease guard: WATCHDOG_DEVICE %s -> %s", current or "unset", watchdog or "unset")
        try:
            self._guard.close()
        except GuardError as exc:
            log.error("lease guard: %s", exc)
        try:
            new = self._revive()
        except GuardUnavailable as exc:
            log.error("no package starts on this node: %s", exc)
            self._lost(str(exc))
            return
        self._guard = new
        if self._margin is not None:
            self.set_margin(self._margin)

    def close(self) -> None:
        if self._retrying is not None:
            self._retrying.cancel()
        if self._guard is not None and self.problem() is not None:
            log.warning("leaving the lease guard (pid %d) armed with what is held", self._guard.pid)
            self._guard.detach()
        elif self._guard is not None:
            self._guard.close()
