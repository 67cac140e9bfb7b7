"""Services: restarts (none, N, unlimited), failure reports, halt by process group."""

import asyncio
import subprocess
import time
from pathlib import Path

from cluster.resources import procs, stopnow
from cluster.resources.base import Context
from cluster.resources.service import UNLIMITED, Service
from tests.netns.resources.conftest import Recorder, make_context


async def wait_async(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_restarts_then_fails_with_fail_fast_flag(
    ctx: tuple[Context, Recorder], tmp_path: Path
) -> None:
    context, rec = ctx
    runs = tmp_path / "runs"
    service = Service(
        "web", f'echo "$SG_SERVICE $PKG_VAR" >> {runs}; exit 3', restart=2, fail_fast=True
    )

    async def scenario() -> None:
        await service.start(context)
        await wait_async(lambda: rec.failures, 10, "the service to fail")
        health = await service.monitor(context)
        assert not health.ok and health.fail_fast
        assert health.reason == "service web exited with status 3 after 2 restart(s)"
        assert service.restarts == 2 and service.restart_text() == "2/2"
        assert service.stop_now_actions() == []
        await service.stop(context)

    asyncio.run(scenario())
    assert runs.read_text().splitlines() == ["web from-package"] * 3
    assert rec.failures == [("service web", rec.failures[0][1])]
    assert any("restart 1/2" in m for m in rec.messages())
    assert any("restart 2/2" in m for m in rec.messages())


def test_no_restart_fails_at_first_exit(ctx: tuple[Context, Recorder]) -> None:
    context, rec = ctx
    service = Service("once", "kill -9 $$", restart=0)

    async def scenario() -> None:
        await service.start(context)
        await wait_async(lambda: rec.failures, 10, "the service to fail")
        health = await service.monitor(context)
        assert health.reason == "service once was killed by SIGKILL"
        assert not health.fail_fast

    asyncio.run(scenario())
    assert service.restarts == 0


def test_unlimited_restarts_are_spaced_and_counted(ctx: tuple[Context, Recorder]) -> None:
    context, rec = ctx
    service = Service("flappy", "exit 1", restart=UNLIMITED, min_restart_interval=0.2)

    async def scenario() -> None:
        await service.start(context)
        await asyncio.sleep(1.1)
        health = await service.monitor(context)
        assert health.ok, health
        await service.stop(context)

    asyncio.run(scenario())
    assert 3 <= service.restarts <= 6, service.restarts
    assert service.restart_text() == f"{service.restarts}/unlimited"
    assert not rec.failures


def test_output_goes_to_package_log_and_monitor_shows_pid(
    ctx: tuple[Context, Recorder], tmp_path: Path
) -> None:
    context, _rec = ctx
    service = Service("talk", "echo hello from $SG_PACKAGE; echo oops >&2; exec sleep 30")

    async def scenario() -> None:
        await service.start(context)
        assert service.pid is not None
        health = await service.monitor(context)
        assert health.ok and health.reason == f"pid {service.pid}, restarts 0/0"
        log = tmp_path / "pkg1.log"
        await wait_async(lambda: "oops" in log.read_text(), 5, "output")
        await service.stop(context)
        assert not (await service.monitor(context)).ok

    asyncio.run(scenario())
    assert "hello from pkg1\noops\n" in (tmp_path / "pkg1.log").read_text()


def test_halt_timeout_kills_the_whole_group(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    """Every process ignores SIGTERM (ignored signals survive exec), including a
    grandchild: after SERVICE_HALT_TIMEOUT the group gets SIGKILL, all of it."""
    context, rec = ctx
    pids = tmp_path / "pids"
    cmd = (
        f"trap '' TERM; echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; "
        f"sh -c 'sleep 300 & echo $! >> {pids}; wait' & echo $! >> {pids}; wait"
    )
    service = Service("stubborn", cmd, halt_timeout=0.5)

    async def scenario() -> float:
        await service.start(context)
        await wait_async(lambda: pids.exists() and len(pids.read_text().split()) == 4, 5, "pids")
        t0 = time.monotonic()
        await service.stop(context)
        return time.monotonic() - t0

    took = asyncio.run(scenario())
    members = [int(p) for p in pids.read_text().split()]
    assert 0.5 <= took < 3.0, took
    assert not any(procs.alive(pid) for pid in members)
    assert procs.group_members(members[0]) == []
    assert any("was killed" in m for m in rec.messages())


def test_halt_that_obeys_sigterm_is_not_killed(ctx: tuple[Context, Recorder]) -> None:
    context, rec = ctx
    service = Service("polite", "exec sleep 300", halt_timeout=10)

    async def scenario() -> float:
        await service.start(context)
        t0 = time.monotonic()
        await service.stop(context)
        return time.monotonic() - t0

    assert asyncio.run(scenario()) < 1.0
    assert not any("was killed" in m for m in rec.messages())


def test_stop_now_kills_the_group_and_it_is_not_restarted(tmp_path: Path) -> None:
    """The lease is lost (may_run turns false) and stop-now kills the service: the
    supervisor, which allows restarts, must not start it again on this node."""
    lease = {"held": True}
    context, rec = make_context(tmp_path, may_run=lambda: lease["held"])
    service = Service("victim", "sleep 300 & exec sleep 300", restart=3)

    async def scenario() -> list[int]:
        await service.start(context)
        assert rec.changes >= 1
        (action,) = service.stop_now_actions()
        assert isinstance(action, stopnow.KillGroup) and action.pgid == service.pid
        await wait_async(lambda: len(procs.group_members(action.pgid)) == 2, 5, "children")
        members = procs.group_members(action.pgid)
        lease["held"] = False
        report = await asyncio.to_thread(stopnow.execute, stopnow.build_plan("a", [action]))
        assert report.clean and report.outcomes[0].detail == "killed"
        await wait_async(lambda: rec.failures, 5, "the failure report")
        assert service.restarts == 0 and service.stop_now_actions() == []
        await service.stop(context)
        return members

    members = asyncio.run(scenario())
    assert not any(procs.alive(p) for p in members)
    ((_label, health),) = rec.failures
    assert health.reason == (
        "service victim was killed by SIGKILL; not restarted: this node no longer holds its lease"
    )


def test_halt_during_a_restart_leaves_nothing_behind(ctx: tuple[Context, Recorder]) -> None:
    """Halting while the supervisor is between instances: no instance outlives it."""
    context, _rec = ctx
    service = Service("flaky", "exit 1", restart=UNLIMITED, min_restart_interval=0.3)

    async def scenario() -> None:
        await service.start(context)
        await asyncio.sleep(0.45)  # inside the second instance's restart pause
        await service.stop(context)
        await asyncio.sleep(0.5)  # a late restart would have happened by now

    asyncio.run(scenario())
    assert service.pid is None and service.stop_now_actions() == []
    assert service.restarts <= 2


def test_stale_group_is_not_killed() -> None:
    """A KillGroup whose leader has another start time names a reused PGID: the
    process there now is a stranger and survives."""
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        stat = procs.read_stat(stranger.pid)
        assert stat is not None and stat.pgid == stranger.pid
        stale = stopnow.KillGroup("pkg1", "service x", stranger.pid, stat.start_time - 1)
        report = stopnow.execute(stopnow.build_plan("a", [stale]))
        assert report.outcomes[0].detail == "already gone"
        assert stranger.poll() is None
        ours = stopnow.KillGroup("pkg1", "service x", stranger.pid, stat.start_time)
        assert stopnow.execute(stopnow.build_plan("a", [ours])).outcomes[0].detail == "killed"
        assert stranger.wait(5) == -9
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()
