"""This node's packages (daemon/packages.py) and the coordinator's view of them
(daemon/coordinator.py): orders of another epoch are refused, stop-now really stops a
real service, and an order in flight pins its package however reports arrive."""

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cluster.config.model import Config
from cluster.daemon.packages import Epoch, LocalPackages
from cluster.errors import CmError
from cluster.packages.runner import State
from cluster.paths import HostPaths
from cluster.pb.v1 import common_pb2, package_pb2
from cluster.resources import stopnow
from tests.unit.config.helpers import THREE_NODES, config

PACKAGE = """
package_name web
node_name a
node_name b
service_name svc
service_cmd "/bin/sleep 300"
service_restart 2
"""


@dataclass
class Store:
    """What LocalPackages reads of the configuration store."""

    config: Config
    generation: int = 3


@dataclass
class Plans:
    published: list[stopnow.Plan] = field(default_factory=list)

    def publish(self, plan: stopnow.Plan) -> None:
        self.published.append(plan)


def local(tmp_path: Path, epoch: Epoch, node: str = "a") -> tuple[LocalPackages, Plans]:
    plans = Plans()
    packages = LocalPackages(
        node=node,
        paths=HostPaths(tmp_path),
        store=Store(config(THREE_NODES, PACKAGE)),  # type: ignore[arg-type]
        epoch=lambda: epoch,
        may_run=lambda: True,
        plan_sink=plans,
    )
    packages.reconfigure()
    return packages, plans


def order(
    epoch: int,
    kind: package_pb2.PackageAction.Kind.ValueType = package_pb2.PackageAction.KIND_START,
) -> package_pb2.PackageAction:
    return package_pb2.PackageAction(
        epoch=epoch, config_generation=3, package_name="web", kind=kind, reason="test"
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_only_nodes_in_the_node_list_get_a_runner(tmp_path: Path) -> None:
    a, _ = local(tmp_path / "a", Epoch(1, True, "a"))
    c, _ = local(tmp_path / "c", Epoch(1, True, "a"), node="c")
    assert list(a.runners) == ["web"]
    assert c.runners == {}


def test_orders_of_another_epoch_or_to_an_inactive_node_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        packages, _ = local(tmp_path, Epoch(5, True, "a"))
        with pytest.raises(CmError, match="order of epoch 4 refused: a is in epoch 5"):
            await packages.execute(order(4))
        packages._epoch = lambda: Epoch(5, False, "a")
        with pytest.raises(CmError, match="not an active member"):
            await packages.execute(order(5))
        packages._epoch = lambda: Epoch(5, True, "a")
        packages.halting = True
        with pytest.raises(CmError, match="halting"):
            await packages.execute(order(5))
        bad = order(5)
        bad.config_generation = 9
        with pytest.raises(CmError, match="generation 9 refused"):
            await packages.execute(bad)
        assert packages.runners["web"].state is State.HALTED
        assert packages.node_report().packages == []

    asyncio.run(scenario())


def test_start_then_stop_now_kills_the_service_and_starts_over(tmp_path: Path) -> None:
    async def scenario() -> None:
        packages, plans = local(tmp_path, Epoch(2, True, "a"))
        report = await packages.execute(order(2))
        assert report.state == common_pb2.PACKAGE_STATE_RUNNING
        (service,) = report.services
        assert service.running and service.max_restarts == "2"
        assert alive(service.pid)
        assert plans.published and plans.published[-1].actions  # the guard knows
        held = packages.node_report()
        assert [(r.package_name, r.state) for r in held.packages] == [
            ("web", common_pb2.PACKAGE_STATE_RUNNING)
        ]
        result = packages.stop_now("test")
        assert result.clean
        await asyncio.sleep(0.05)
        assert not alive(service.pid)
        assert packages.runners["web"].state is State.HALTED
        assert packages.node_report().packages == []
        assert plans.published[-1].actions == ()

    asyncio.run(scenario())


def test_a_service_out_of_restarts_halts_the_package_and_reports_the_failure(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        packages, _ = local(tmp_path, Epoch(2, True, "a"))
        pushed: list[package_pb2.NodePackages] = []
        packages.on_report = lambda: pushed.append(packages.node_report())
        report = await packages.execute(order(2))
        for _ in range(3):  # the first run and SERVICE_RESTART 2
            pid = packages.runners["web"].services()[0].pid
            assert pid is not None
            os.kill(pid, 9)
            for _ in range(300):
                await asyncio.sleep(0.01)
                now = packages.runners["web"].services()[0].pid
                if now not in (None, pid) or packages.failed_here:
                    break
        for _ in range(300):
            if packages.runners["web"].state is State.HALTED:
                break
            await asyncio.sleep(0.01)
        assert report.state == common_pb2.PACKAGE_STATE_RUNNING
        assert packages.runners["web"].state is State.HALTED
        assert pushed[-1].failed_packages == ["web"]
        assert pushed[-1].packages == []
        # Once the replicated history holds it, the node stops repeating it.
        packages.set_flags(
            package_pb2.PackageFlags(
                epoch=2,
                seq=1,
                packages=[package_pb2.PackageFlag(package_name="web", failed_nodes=["a"])],
            )
        )
        assert packages.node_report().failed_packages == []

    asyncio.run(scenario())


def test_in_maintenance_a_dead_service_is_reported_not_failed_and_a_top_up_restarts_it(
    tmp_path: Path,
) -> None:
    """cmmodpkg -m on: the flags name this node; a killed service stays down (no restart,
    no failure, no halt), the report says what is down, and an order to start what is
    missing (cmrunpkg) brings it back without touching the rest."""
    from cluster.core import events as alert

    async def scenario() -> None:
        packages, _ = local(tmp_path, Epoch(2, True, "a"))
        events: list[alert.Event] = []
        packages.events.emit = events.append
        await packages.execute(order(2))
        assert [e.kind for e in events] == ["package_starting", "package_started"]
        packages.set_flags(
            package_pb2.PackageFlags(
                epoch=2,
                seq=1,
                packages=[package_pb2.PackageFlag(package_name="web", maintenance_node="a")],
            )
        )
        assert packages.in_maintenance("web")
        pid = packages.runners["web"].services()[0].pid
        assert pid is not None
        os.kill(pid, 9)
        for _ in range(300):
            if packages.runners["web"].ignored:
                break
            await asyncio.sleep(0.01)
        runner = packages.runners["web"]
        assert runner.state is State.RUNNING and runner.services()[0].pid is None
        assert runner.services()[0].restarts == 0 and not packages.failed_here
        report = packages.report("web")
        assert list(report.modules_down) == ["sg/service"] and "sg/service down" in report.ailing
        assert events[-1].kind == "service_failed" and events[-1].service == "svc"
        top_up = await packages.execute(order(2))  # cmrunpkg web: what is missing
        assert top_up.state == common_pb2.PACKAGE_STATE_RUNNING and top_up.services[0].running
        assert not top_up.modules_down and events[-1].kind == "service_failed"  # no new start
        await packages.execute(order(2, package_pb2.PackageAction.KIND_HALT))
        assert events[-1].kind == "package_halted"

    asyncio.run(scenario())
