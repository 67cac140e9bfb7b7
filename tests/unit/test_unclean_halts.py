"""Unclean halts are visible (issue 13 pt 4, DESIGN §3 "Packages and the lease guard"):
a halt or stop-now that could not release everything keeps the package reported
halt_unclean until a halt succeeds or the kernel shows it let go; an unclean stop-now
by cmcld is recorded as the guard's own and keeps what is held in the guard's plan;
cmhaltnode fails, naming the package, instead of leaving with it held."""

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cluster.config.model import Config
from cluster.core.timing import MS
from cluster.daemon.leaseguard import GuardLink, record_problem
from cluster.daemon.package_ops import PackageOps
from cluster.daemon.packages import Epoch, LocalPackages
from cluster.errors import CmError
from cluster.guard import protocol as p
from cluster.guard.client import Guard as GuardClient
from cluster.guard.main import Guard as GuardProcess
from cluster.guard.main import GuardLog
from cluster.packages.runner import State
from cluster.paths import HostPaths
from cluster.pb.v1 import common_pb2, package_pb2
from cluster.resources import stopnow
from cluster.resources.base import Context, Health, Resource, ResourceError
from tests.unit.config.helpers import THREE_NODES, config

PACKAGE = """
package_name web
node_name a
node_name b
"""


class Sticky(Resource):
    """A resource whose halt fails while `stuck` (a filesystem still in use). With
    `drops`, the failed halt forgets it, as a lazy unmount used to; without, it stays
    active. Its stop-now action is an agent that fails while the `busy` file exists."""

    kind = "sticky"

    def __init__(self, agent: str, *, drops: bool) -> None:
        self.agent, self.drops = agent, drops
        self.stuck = True
        self.let_go = False  # what `released` finds
        self._active = False

    @property
    def label(self) -> str:
        return "sticky"

    @property
    def active(self) -> bool:
        return self._active

    async def _start(self, ctx: Context) -> None:
        ctx.on_change()
        self._active = True

    async def _stop(self, ctx: Context) -> None:
        if self.stuck:
            self._active = not self.drops
            ctx.on_change()
            raise ResourceError("sticky is still in use")
        self._active = False
        ctx.on_change()

    async def monitor(self, ctx: Context) -> Health:
        return Health.healthy()

    async def released(self, ctx: Context) -> bool:
        if self.let_go:
            self._active = False
            ctx.on_change()
        return self.let_go

    def stop_now_actions(self) -> list[stopnow.StopNowAction]:
        return [stopnow.OcfStop("web", "sticky", self.agent)] if self._active else []


@dataclass
class Store:
    config: Config
    generation: int = 3


@dataclass
class Sink:
    published: list[stopnow.Plan] = field(default_factory=list)

    def publish(self, plan: stopnow.Plan) -> None:
        self.published.append(plan)


@dataclass
class Setup:
    packages: LocalPackages
    sink: Sink
    sticky: Sticky
    busy: Path  # while it exists, the stop-now action fails
    unclean_stops: list[tuple[stopnow.Report, str]]


@pytest.fixture(params=[True, False], ids=["forgotten", "kept-active"])
def setup(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Setup]:
    busy = tmp_path / "busy"
    busy.touch()
    agent = tmp_path / "agent"
    agent.write_text(f"#!/bin/sh\n[ -e {busy} ] && exit 1\nexit 0\n")
    agent.chmod(0o755)
    sink, stops = Sink(), []
    packages = LocalPackages(
        node="a",
        paths=HostPaths(tmp_path),
        store=Store(config(THREE_NODES, PACKAGE)),  # type: ignore[arg-type]
        epoch=lambda: Epoch(2, True, "a"),
        may_run=lambda: True,
        plan_sink=sink,
        on_unclean_stop=lambda report, why: stops.append((report, why)),
    )
    packages.reconfigure()
    sticky = Sticky(str(agent), drops=request.param)
    packages.runners["web"].resources = [sticky]
    yield Setup(packages, sink, sticky, busy, stops)


def order(kind: "package_pb2.PackageAction.Kind.ValueType") -> package_pb2.PackageAction:
    return package_pb2.PackageAction(
        epoch=2, config_generation=3, package_name="web", kind=kind, reason="test"
    )


START = package_pb2.PackageAction.KIND_START
HALT = package_pb2.PackageAction.KIND_HALT


def held(packages: LocalPackages) -> dict[str, bool]:
    """What the coordinator learns: package -> halt_unclean."""
    return {r.package_name: r.halt_unclean for r in packages.node_report().packages}


def test_a_halt_that_could_not_release_everything_is_reported_until_halted_again(
    setup: Setup,
) -> None:
    """Whether or not the driver still counts the resource active (a lazy unmount did
    not), the package stays held here, unclean, so it is started nowhere; a halt that
    succeeds (cmhaltpkg again) clears it."""

    async def scenario() -> None:
        packages = setup.packages
        assert (await packages.execute(order(START))).state == common_pb2.PACKAGE_STATE_RUNNING
        report = await packages.execute(order(HALT))
        assert report.halt_unclean and report.state == common_pb2.PACKAGE_STATE_FAILED
        assert "could not halt cleanly" in report.last_error
        assert held(packages) == {"web": True}
        assert packages.active() == ["web"] and packages.unclean() == ["web"]
        setup.sticky.stuck = False
        report = await packages.execute(order(HALT))  # the operator's cmhaltpkg
        assert not report.halt_unclean and report.state == common_pb2.PACKAGE_STATE_HALTED
        assert held(packages) == {} and packages.active() == []

    asyncio.run(scenario())


def test_an_unclean_package_is_clean_once_the_kernel_shows_it_let_go(tmp_path: Path) -> None:
    """A filesystem detached lazily stays active; once its last user is gone (the
    kernel lets the device go, MMP says unmounted) the package is no longer held."""

    async def scenario() -> None:
        busy = tmp_path / "busy"
        packages = LocalPackages(
            node="a",
            paths=HostPaths(tmp_path),
            store=Store(config(THREE_NODES, PACKAGE)),  # type: ignore[arg-type]
            epoch=lambda: Epoch(2, True, "a"),
            may_run=lambda: True,
            plan_sink=Sink(),
        )
        packages.reconfigure()
        sticky = Sticky(str(busy), drops=False)
        runner = packages.runners["web"]
        runner.resources = [sticky]
        assert (await runner.start()).ok
        assert not (await runner.halt()).clean
        assert not await runner.reclaim()  # still in use
        assert held(packages) == {"web": True}
        sticky.let_go = True
        assert await runner.reclaim()
        assert runner.state is State.HALTED and not runner.unclean
        assert held(packages) == {}

    asyncio.run(scenario())


def test_an_unclean_stop_now_is_recorded_and_keeps_what_is_held_in_the_plan(
    setup: Setup,
) -> None:
    async def scenario() -> None:
        packages = setup.packages
        assert (await packages.execute(order(START))).state == common_pb2.PACKAGE_STATE_RUNNING
        report = packages.stop_now("lease lost")
        assert not report.clean
        ((recorded, why),) = setup.unclean_stops
        assert why == "lease lost" and not recorded.clean
        # What could not be stopped stays in the guard's plan, the package unclean.
        assert [a.label for a in setup.sink.published[-1].actions] == ["sticky"]
        assert held(packages) == {"web": True}
        assert "stop-now left sticky" in packages.report("web").last_error
        # Freed, then halted again by the operator: the plan empties, the package is clean.
        setup.busy.unlink()
        report_pb = await packages.execute(order(HALT))
        assert not report_pb.halt_unclean and setup.sink.published[-1].actions == ()
        assert held(packages) == {}

    asyncio.run(scenario())


def test_a_clean_stop_now_records_nothing(setup: Setup) -> None:
    async def scenario() -> None:
        setup.busy.unlink()
        assert (await setup.packages.execute(order(START))).state == (
            common_pb2.PACKAGE_STATE_RUNNING
        )
        assert setup.packages.stop_now("lease lost").clean
        assert setup.unclean_stops == [] and setup.sink.published[-1].actions == ()
        assert held(setup.packages) == {}

    asyncio.run(scenario())


class Membership:
    """The membership as cmhaltnode sees it: an active member of epoch 2."""

    def decided(self) -> object:
        return type("M", (), {"epoch": 2, "coordinator": "", "members": ("a",)})()

    def active(self) -> bool:
        return True

    def holds_lease(self) -> bool:
        return True


def test_cmhaltnode_fails_naming_what_is_still_held(setup: Setup) -> None:
    """The coordinator moves no unclean package: cmhaltnode says so at once (before,
    it waited HALT_HERE_TIMEOUT and then left with the package held)."""

    async def scenario() -> None:
        packages = setup.packages
        await packages.execute(order(START))
        await packages.execute(order(HALT))
        ops = PackageOps(
            node="a",
            membership=Membership(),  # type: ignore[arg-type]
            packages=packages,
            coordinator=None,  # type: ignore[arg-type]
            dialer=None,  # type: ignore[arg-type]
        )
        lines = []
        with pytest.raises(CmError) as caught:
            async with asyncio.timeout(5):
                async for line in ops.halt_here():
                    lines.append(line)
        text = str(caught.value)
        assert text.startswith("a still holds web (web could not be halted cleanly): a stays")
        assert "cmhaltpkg" in text
        assert not any("no package runs" in line for line in lines)

    asyncio.run(scenario())


@dataclass
class FakeGuard:
    """The guard process as GuardLink drives it."""

    pid: int = 4242
    calls: list[str] = field(default_factory=list)

    def disarm(self) -> None:
        self.calls.append("disarm")

    def close(self) -> None:
        self.calls.append("close")

    def detach(self) -> None:
        self.calls.append("detach")

    def listening(self) -> bool:
        return True


def unclean_report() -> stopnow.Report:
    outcome = stopnow.Outcome("unmount", "web", "fs /srv", False, 5, "detached lazily")
    return stopnow.Report(1, 2, (outcome,))


def test_cmclds_unclean_stop_is_recorded_and_the_guard_stays_armed(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    guard = FakeGuard()
    link = GuardLink(guard, paths=paths, node="a")  # type: ignore[arg-type]
    assert link.problem() is None
    link.stopped_unclean(unclean_report(), "lease lost")
    record = GuardClient.fired_record(paths)
    assert record is not None and record["by"] == "cmcld (lease lost)"
    problem = record_problem(record, paths)
    assert problem is not None and "fs /srv of web: detached lazily" in problem
    assert link.problem() == problem  # no package starts here
    link.disarm()
    link.close()
    assert guard.calls == ["detach"]  # never disarmed, left armed at the end
    GuardClient.clear_fired(paths)  # the operator checked the host
    assert link.problem() is None
    link.disarm()
    assert guard.calls == ["detach", "disarm"]


def test_the_guard_keeps_an_unclean_record_its_own_clean_stop_would_replace(
    tmp_path: Path,
) -> None:
    """cmcld's stop-now detached a filesystem lazily; the guard, firing later, finds the
    mount gone and would call that clean: the unclean record stands."""
    paths = HostPaths(tmp_path)
    files = p.GuardFiles.from_paths(paths)
    files.fifo.parent.mkdir(parents=True)
    os.mkfifo(files.fifo)
    link = GuardLink(FakeGuard(), paths=paths, node="a")  # type: ignore[arg-type]
    link.stopped_unclean(unclean_report(), "lease lost")
    guard = GuardProcess(
        files,
        node="a",
        margin_ns=200 * MS,
        log=GuardLog(files.log, "a"),
        watchdog=None,
        priority={},
    )
    guard.fire()  # an empty plan: clean
    assert guard.fired is not None and guard.fired["report"]["clean"]
    record = GuardClient.fired_record(paths)
    assert record is not None and record["by"] == "cmcld (lease lost)"
