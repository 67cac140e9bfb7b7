"""This node's packages and its lease guard (daemon/packages.py with a fake guard): no
guard means no package starts here and the node's report says why; a plan the guard
cannot be told of fails the start, and what was started is released; a service's
process group reaches the guard before its command runs."""

import asyncio
import errno
import logging
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cluster.config.model import Config
from cluster.daemon.packages import Epoch, LocalPackages
from cluster.errors import CmError
from cluster.packages.runner import State
from cluster.paths import HostPaths
from cluster.pb.v1 import common_pb2, package_pb2
from cluster.resources import procs, stopnow
from cluster.resources.base import Context
from cluster.resources.service import GATE, Service
from tests.unit.config.helpers import THREE_NODES, config

PACKAGE = """
package_name web
node_name a
node_name b
service_name first
service_cmd "/bin/sleep 300"
service_name second
service_cmd "/bin/sleep 301"
service_restart 2
"""
NO_GUARD = "the lease guard is not running: the lease guard could not start: test"


@dataclass
class Store:
    config: Config
    generation: int = 3


@dataclass
class Guard:
    """A fake guard: takes plans until told to fail, as a full /var would make it."""

    fail_after: int | None = None  # plans with this many actions or more fail
    published: list[stopnow.Plan] = field(default_factory=list)

    def publish(self, plan: stopnow.Plan) -> None:
        if self.fail_after is not None and len(plan.actions) >= self.fail_after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.published.append(plan)


def local(tmp_path: Path, guard: Guard, blocked: str | None = None) -> LocalPackages:
    packages = LocalPackages(
        node="a",
        paths=HostPaths(tmp_path),
        store=Store(config(THREE_NODES, PACKAGE)),  # type: ignore[arg-type]
        epoch=lambda: Epoch(2, True, "a"),
        may_run=lambda: blocked is None,
        plan_sink=guard,
        blocked=lambda: blocked,
    )
    packages.reconfigure()
    return packages


def start() -> package_pb2.PackageAction:
    return package_pb2.PackageAction(
        epoch=2,
        config_generation=3,
        package_name="web",
        kind=package_pb2.PackageAction.KIND_START,
        reason="test",
    )


def sleepers() -> set[int]:
    """Living children of this test running a service of the package."""
    found = set()
    for pid in procs.pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\x00")
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and cmdline[1:2] in ([b"300"], [b"301"]) and procs.alive(pid):
            found.add(pid)
    return found


def test_without_a_guard_no_package_starts_and_the_report_says_why(tmp_path: Path) -> None:
    async def scenario() -> None:
        guard = Guard()
        packages = local(tmp_path, guard, blocked=NO_GUARD)
        with pytest.raises(CmError, match=f"a runs no package: {NO_GUARD}"):
            await packages.execute(start())
        assert packages.runners["web"].state is State.HALTED
        assert not packages.runners["web"].active_resources()
        assert guard.published == []
        report = packages.node_report()
        # The coordinator places nothing here (halting), and says why (blocked).
        assert report.halting
        assert report.blocked == NO_GUARD
        assert not packages.failed_here  # the node's fault, not the package's

    asyncio.run(scenario())


def test_with_a_guard_the_report_has_no_reason(tmp_path: Path) -> None:
    packages = local(tmp_path, Guard())
    report = packages.node_report()
    assert not report.halting and report.blocked == ""


def test_a_plan_the_guard_cannot_take_fails_the_start_and_releases_what_started(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        before = sleepers()
        # The first service's process group reaches the guard; the second's cannot.
        guard = Guard(fail_after=2)
        packages = local(tmp_path, guard)
        report = await packages.execute(start())
        runner = packages.runners["web"]
        assert report.state == common_pb2.PACKAGE_STATE_FAILED
        assert "the lease guard could not be told of service second" in report.last_error
        assert "No space left on device" in report.last_error
        assert runner.state is State.FAILED and not runner.active_resources()
        assert packages.failed_here == {"web"}
        await asyncio.sleep(0.05)
        assert sleepers() - before == set(), "a service runs that the guard does not know"
        # The guard held the first service's group while it ran, and nothing at the end.
        assert max(len(p.actions) for p in guard.published) == 1
        assert guard.published[-1].actions == ()

    asyncio.run(scenario())


def test_a_restart_the_guard_cannot_be_told_of_does_not_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        guard = Guard()
        packages = local(tmp_path, guard)
        report = await packages.execute(start())
        assert report.state == common_pb2.PACKAGE_STATE_RUNNING
        second = packages.runners["web"].services()[1]
        pid = second.pid
        assert pid is not None
        guard.fail_after = 2  # /var fills up
        os.kill(pid, 9)
        for _ in range(300):
            await asyncio.sleep(0.01)
            if packages.failed_here:
                break
        assert packages.failed_here == {"web"}
        assert second.pid is None, "a restarted service runs that the guard does not know"
        for _ in range(300):
            if packages.runners["web"].state is State.HALTED:
                break
            await asyncio.sleep(0.01)
        assert packages.runners["web"].state is State.HALTED

    asyncio.run(scenario())


def test_a_smaller_plan_that_cannot_be_published_does_not_stop_a_halt(tmp_path: Path) -> None:
    async def scenario() -> None:
        guard = Guard()
        packages = local(tmp_path, guard)
        await packages.execute(start())
        guard.fail_after = 0  # nothing can be published any more
        halt = start()
        halt.kind = package_pb2.PackageAction.KIND_HALT
        report = await packages.execute(halt)
        assert report.state == common_pb2.PACKAGE_STATE_HALTED

    asyncio.run(scenario())


# -- the guard learns of a service before it runs ----------------------------------------


def test_a_service_runs_only_once_the_guard_knows_its_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    service = Service("svc", f"touch {marker}; exec /bin/sleep 302")
    told: list[tuple[int, bool]] = []

    def on_change() -> None:
        if service.stop_now_actions():
            time.sleep(0.3)  # had the command not been held, it would have run by now
            told.append((len(service.stop_now_actions()), marker.exists()))

    ctx = Context(package="web", node="a", log=logging.getLogger("test"), on_change=on_change)

    async def scenario() -> None:
        await service.start(ctx)
        for _ in range(200):
            if marker.exists():
                break
            await asyncio.sleep(0.01)
        assert told == [(1, False)], "the service ran before the guard knew of it"
        assert marker.exists(), "the gate never opened"
        await service.stop(ctx)

    asyncio.run(scenario())


def test_a_gate_that_is_never_opened_never_runs_the_command(tmp_path: Path) -> None:
    """cmcld dies before it told the guard: the gate's pipe ends, the command never runs."""
    marker = tmp_path / "ran"
    gate, opener = os.pipe()
    process = subprocess.Popen(
        ["/bin/sh", "-c", GATE, f"touch {marker}"], stdin=gate, start_new_session=True
    )
    os.close(gate)
    os.close(opener)
    assert process.wait(5) == 125
    assert not marker.exists()
