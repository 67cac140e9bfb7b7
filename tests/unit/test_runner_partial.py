"""Maintenance mode in the package runner: a partial start (some modules), starting what
is missing, halting the services only, and a service that exits in maintenance mode is
neither restarted nor a failure of the package. Real processes throughout."""

import asyncio
import logging
import os
import signal
from pathlib import Path

from cluster.packages.runner import PackageRunner, State
from cluster.resources.base import Resource
from cluster.resources.service import Service
from tests.unit.test_runner import agent, lines, script

FAILURES: list[str] = []  # what the runner reported through on_failure (reset per test)


def make(tmp: Path, *resources: Resource, maintenance: bool = True) -> PackageRunner:
    FAILURES.clear()
    return PackageRunner(
        name="pkg",
        node="n1",
        resources=list(resources),
        log=logging.getLogger("test.runner"),
        output=tmp / "pkg.log",
        in_maintenance=lambda: maintenance,
        on_failure=lambda _r, res, health: FAILURES.append(f"{res.label}: {health.reason}"),
    )


def state(r: PackageRunner) -> State:
    return r.state


def test_partial_start_then_what_is_missing_then_services_only_halt(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    service = Service("svc", "exec /bin/sleep 300")
    r = make(tmp_path, agent(tmp_path, "a1", journal), script(tmp_path, "s2", journal), service)

    async def scenario() -> None:
        assert (await r.start(modules=("sg/ocf",))).ok
        assert state(r) is State.RUNNING
        assert r.modules_down() == ["sg/external", "sg/service"]
        assert lines(journal) == ["a1 start"]
        assert (await r.start()).ok  # what is missing, nothing twice
        assert lines(journal) == ["a1 start", "s2 start"] and service.pid is not None
        assert r.modules_down() == []
        pid = service.pid
        assert (await r.halt(("sg/service",))).ok
        assert state(r) is State.RUNNING and service.pid is None
        assert r.modules_down() == ["sg/service"] and lines(journal)[2:] == []
        assert not _alive(pid)
        assert (await r.start(modules=("sg/service",))).ok and service.pid is not None
        assert lines(journal) == ["a1 start", "s2 start"]  # the script was not run again
        assert (await r.halt()).ok and state(r) is State.HALTED
        assert lines(journal)[2:] == ["s2 stop", "a1 stop"]

    asyncio.run(scenario())


def test_a_partial_halt_of_everything_that_runs_leaves_it_halted(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    r = make(tmp_path, script(tmp_path, "s1", journal))

    async def scenario() -> None:
        assert (await r.start()).ok
        assert (await r.halt(("sg/external",))).ok and state(r) is State.HALTED

    asyncio.run(scenario())


def test_a_service_that_exits_in_maintenance_is_not_restarted(tmp_path: Path) -> None:
    service = Service("svc", "exec /bin/sleep 300", restart=5)
    r = make(tmp_path, service)

    async def scenario() -> None:
        assert (await r.start()).ok
        assert service.pid is not None
        os.kill(service.pid, signal.SIGKILL)
        for _ in range(100):
            if service.pid is None and FAILURES:
                break
            await asyncio.sleep(0.05)
        assert service.restarts == 0 and service.pid is None
        (failure,) = FAILURES
        assert "not restarted: the package is in maintenance mode" in failure
        assert state(r) is State.RUNNING and r.modules_down() == ["sg/service"]
        assert (await r.start()).ok and service.pid is not None  # cmrunpkg PKG
        assert (await r.halt()).ok

    asyncio.run(scenario())


def test_out_of_maintenance_the_same_service_is_restarted(tmp_path: Path) -> None:
    service = Service("svc", "exec /bin/sleep 300", restart=5)
    r = make(tmp_path, service, maintenance=False)

    async def scenario() -> None:
        assert (await r.start()).ok
        first = service.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        for _ in range(100):
            if service.pid not in (None, first):
                break
            await asyncio.sleep(0.05)
        assert service.restarts == 1 and service.pid not in (None, first)
        assert (await r.halt()).ok

    asyncio.run(scenario())


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
