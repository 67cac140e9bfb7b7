"""cmcld's hold on its lease guard (daemon/leaseguard.py) with real guard processes: no
guard, no package (and why); an unclean record holds until an operator removes it; a
plan the guard cannot be told of fails the start; a restarted cmcld stops what the
previous one left before it renews that one's guard."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster.daemon import leaseguard
from cluster.daemon.leaseguard import GuardLink, GuardUnavailable, open_guard
from cluster.guard import protocol
from cluster.guard.client import Guard, GuardError
from cluster.paths import HostPaths
from cluster.resources import procs, stopnow
from cluster.resources.stopnow import DeactivateVG, KillGroup, build_plan

COMMAND = [sys.executable, "-m", "cluster"]
MS = 1_000_000


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[HostPaths]:
    """A host root; any guard left running there at the end is stopped by its PID."""
    paths = HostPaths(tmp_path / "root")
    yield paths
    pid = Guard.running_pid(paths)
    if pid:
        with contextlib.suppress(GuardError):
            Guard.attach(paths).close(timeout=2)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A service the previous cmcld left running: its own session, as services are."""
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(5)


@pytest.fixture(autouse=True)
def _guard_from_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards run from this source tree (cmcld runs its own zipapp)."""
    start = Guard.start.__func__  # type: ignore[attr-defined]

    def from_source(cls: type[Guard], /, paths: HostPaths, **kw: object) -> Guard:
        kw.setdefault("command", COMMAND)
        guard: Guard = start(cls, paths, **kw)
        return guard

    monkeypatch.setattr(Guard, "start", classmethod(from_source))


def previous_cmcld(paths: HostPaths, plan: stopnow.Plan, lease_ms: int = 30_000) -> Guard:
    """A guard as a cmcld killed with SIGKILL leaves it: armed, holding its plan."""
    guard = Guard.start(paths, node="a", margin_ns=100 * MS)
    guard.publish_plan(plan)
    guard.renew(time.monotonic_ns() + lease_ms * MS)
    return guard


def kill_group(process: subprocess.Popen[bytes]) -> KillGroup:
    stat = procs.read_stat(process.pid)
    assert stat is not None
    return KillGroup("pkg1", "service svc", process.pid, stat.start_time)


def no_watchdog() -> None:
    return None


# -- no guard, no package ------------------------------------------------------------


def test_a_guard_that_cannot_start_means_no_package_and_says_why(paths: HostPaths) -> None:
    log = paths.log_dir / "cmguard.log"
    log.mkdir(parents=True)  # the guard cannot open its log: it cannot start
    link = open_guard(paths, "a", no_watchdog)
    problem = link.problem()
    assert problem is not None
    assert problem.startswith("the lease guard is not running: the lease guard could not start")
    assert "Is a directory" in problem
    assert not link.listening()
    assert not Guard.running_pid(paths)
    with pytest.raises(GuardUnavailable, match="the lease guard is not running"):
        link.publish(build_plan("a", [DeactivateVG("pkg1", "vg vg1", "vg1", "a")]))
    link.publish(stopnow.Plan("a"))  # nothing to guard: nothing to refuse
    link.renew(time.monotonic_ns() + 1000 * MS)  # outside a loop: no retry, no error
    link.set_margin(200 * MS)
    link.disarm()
    link.close()


def test_an_unclean_record_holds_until_removed_then_a_guard_starts(paths: HostPaths) -> None:
    record = {"node": "a", "wall_time": time.time(), "report": {"clean": False, "outcomes": []}}
    protocol.write_json(Guard.fired_path(paths), record)

    async def scenario() -> None:
        changes: list[str | None] = []
        link = await asyncio.to_thread(open_guard, paths, "a", no_watchdog)
        link.on_change = lambda: changes.append(link.problem())
        problem = link.problem() or ""
        assert "was NOT clean" in problem and str(Guard.fired_path(paths)) in problem
        assert not Guard.running_pid(paths) and not link.listening()
        # Renewals while the record stands start nothing.
        link._last_try = 0.0
        link.renew(time.monotonic_ns() + 1000 * MS)
        await asyncio.sleep(0.3)
        assert not link.listening() and not Guard.running_pid(paths)
        # The operator checked the host and removed the record: the next try starts one.
        Guard.fired_path(paths).unlink()
        link._last_try = 0.0
        link.renew(time.monotonic_ns() + 1000 * MS)
        for _ in range(200):
            await asyncio.sleep(0.05)
            if link.listening():
                break
        assert link.listening() and link.problem() is None
        assert changes[-1] is None
        await asyncio.to_thread(link.close)

    asyncio.run(scenario())


def test_retries_are_spaced() -> None:
    async def scenario() -> None:
        tries: list[float] = []

        def revive() -> Guard:
            tries.append(time.monotonic())
            raise GuardUnavailable("test: still failing")

        link = GuardLink(None, revive=revive, problem="x")
        link._last_try = 0.0
        for _ in range(20):
            link.renew(time.monotonic_ns() + 1000 * MS)
            await asyncio.sleep(0.01)
        assert len(tries) == 1, "a missing guard is retried at every renewal"
        assert link.problem() == "the lease guard is not running: test: still failing"

    asyncio.run(scenario())


# -- a plan the guard cannot be told of ----------------------------------------------


def test_a_plan_that_cannot_be_saved_fails_the_start_and_releases_it(paths: HostPaths) -> None:
    """As with /var full: the guard cannot be told of the service's process group, so
    the start fails, the service does not run, and the package is failed here."""
    from cluster.config.model import Config
    from cluster.daemon.packages import Epoch, LocalPackages
    from cluster.pb.v1 import common_pb2, package_pb2
    from tests.unit.config.helpers import THREE_NODES, config

    @dataclass
    class Store:
        config: Config
        generation: int = 3

    package = 'package_name web\nnode_name a\nservice_name svc\nservice_cmd "/bin/sleep 303"\n'
    store = Store(config(THREE_NODES, package))

    async def scenario() -> None:
        link = await asyncio.to_thread(open_guard, paths, "a", no_watchdog)
        packages = LocalPackages(
            node="a",
            paths=paths,
            store=store,  # type: ignore[arg-type]
            epoch=lambda: Epoch(2, True, "a"),
            may_run=link.listening,
            plan_sink=link,
            blocked=link.problem,
        )
        packages.reconfigure()
        Guard.fired_path(paths).with_name("stopnow.json").mkdir(parents=True)  # no rename onto it
        order = package_pb2.PackageAction(
            epoch=2, config_generation=3, package_name="web", reason="test"
        )
        order.kind = package_pb2.PackageAction.KIND_START
        report = await packages.execute(order)
        assert report.state == common_pb2.PACKAGE_STATE_FAILED
        assert "the lease guard could not be told of service svc" in report.last_error
        assert not packages.runners["web"].active_resources()
        assert not [p for p in procs.pids() if _is_sleep_303(p)], "an unguarded service runs"
        await asyncio.to_thread(link.close)

    asyncio.run(scenario())


def _is_sleep_303(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() == b"/bin/sleep\x00303\x00"
    except OSError:
        return False


# -- a restarted cmcld ----------------------------------------------------------------


def test_a_restarted_cmcld_stops_what_the_previous_one_left_before_renewing_its_guard(
    paths: HostPaths, victim: subprocess.Popen[bytes]
) -> None:
    old = previous_cmcld(paths, build_plan("a", [kill_group(victim)]))
    link = open_guard(paths, "a", no_watchdog)
    assert victim.wait(5) == -signal.SIGKILL, "the previous cmcld's service still runs"
    assert stopnow.load_plan(Guard.fired_path(paths).with_name("stopnow.json")).actions == ()
    # The old guard, whose plan is now this cmcld's (empty), is kept and renewed.
    assert not link.started_here and link.listening() and link.problem() is None
    deadline = time.monotonic() + 5
    while old.status().plan_actions and time.monotonic() < deadline:
        time.sleep(0.01)  # the guard reads the PLAN command on its own time
    status = old.status()
    assert status.pid == old.pid and status.plan_actions == 0 and status.state == protocol.ARMED
    link.renew(time.monotonic_ns() + 1000 * MS)
    assert Guard.fired_record(paths) is None
    link.close()


def test_an_unclean_stop_of_the_leftovers_holds_packages_and_leaves_the_old_guard_be(
    paths: HostPaths, victim: subprocess.Popen[bytes]
) -> None:
    stuck = DeactivateVG("pkg1", "vg h1vg", "h1vg", "a", devices=("/nonexistent",), timeout=1)
    old = previous_cmcld(paths, build_plan("a", [kill_group(victim), stuck]), lease_ms=1500)
    link = open_guard(paths, "a", no_watchdog)
    assert victim.wait(5) == -signal.SIGKILL
    problem = link.problem() or ""
    assert "the stop-now by cmcld at start" in problem and "was NOT clean" in problem
    assert "vg h1vg of pkg1" in problem
    assert not link.listening()
    record = Guard.fired_record(paths)
    assert record is not None and record["by"] == "cmcld at start"
    # The previous guard was not renewed: it fires at its deadline, with its own plan.
    link.renew(time.monotonic_ns() + 60_000 * MS)
    deadline = time.monotonic() + 10
    while old.status().state != protocol.FIRED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert old.status().state == protocol.FIRED
    with pytest.raises(GuardUnavailable, match="NOT clean"):
        leaseguard.new_guard(paths, "a", None)


def test_an_unreadable_plan_is_not_taken_for_an_empty_one(paths: HostPaths) -> None:
    plan = Guard.fired_path(paths).with_name("stopnow.json")
    plan.parent.mkdir(parents=True)
    plan.write_text("{not json")
    link = open_guard(paths, "a", no_watchdog)
    problem = link.problem() or ""
    assert "the previous stop-now plan cannot be read" in problem, problem
    assert "stopnow.json.unreadable" in problem
    assert not link.listening() and not Guard.running_pid(paths)
    # Once the operator removed the record, a new start finds nothing to stop.
    Guard.fired_path(paths).unlink()
    again = open_guard(paths, "a", no_watchdog)
    assert again.listening() and again.problem() is None
    again.close()


def test_the_watchdog_limit_and_the_lease_reach_the_guard(paths: HostPaths, tmp_path: Path) -> None:
    """cmcld tells its guard the device timeout the lease allows and the lease length
    (the feed rule's anchor); the guard fits its device and says whether it protects a
    frozen host. A FIFO takes no WDIOC_SETTIMEOUT, so here it cannot, and says so."""
    fifo = tmp_path / "watchdog"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        link = open_guard(paths, "a", lambda: str(fifo))
        try:
            link.set_margin(200 * MS, 1000 * MS, 3000 * MS)
            status_file = protocol.GuardFiles.from_paths(paths).status
            watchdog: dict[str, object] = {}
            for _ in range(100):
                watchdog = (protocol.read_json(status_file) or {}).get("watchdog") or {}
                if watchdog.get("limit_ms") == 1000.0:
                    break
                time.sleep(0.05)
            assert watchdog.get("limit_ms") == 1000.0, watchdog
            assert watchdog.get("protects_frozen_host") is False
            assert "takes no timeout" in str(watchdog.get("problem"))
            assert leaseguard.watchdog_warnings(paths, "a")
        finally:
            link.close()
    finally:
        os.close(reader)
