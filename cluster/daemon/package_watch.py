"""The watchers of this node's packages, each a long-running task of cmcld: monitored
subnets, the resources of running packages (and unclean ones the kernel let go), and
MMP samples of filesystems not mounted here (so a takeover starts from what their
holder did). They act through `LocalPackages`: a package that failed here is halted and
reported, and the coordinator moves it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from cluster.daemon.packages import LocalPackages
from cluster.network.interfaces import read_interfaces
from cluster.packages.runner import State
from cluster.resources import mmp
from cluster.resources.fs import Filesystem
from cluster.resources.ip import FloatingIP

MMP_TICK = 0.1  # seconds between looks at which MMP blocks are due for a sample
MMP_IDLE_PERIOD = 5.0  # seconds between samples of a device without MMP or unreadable


def _sample_mmp(devices: list[str]) -> dict[str, mmp.MmpBlock | None]:
    """One round of MMP samples, in a worker thread (a slow disk must not hold up
    the event loop); a device that cannot be read counts as one without MMP."""
    blocks: dict[str, mmp.MmpBlock | None] = {}
    for device in devices:
        try:
            blocks[device] = mmp.read_block_now(device)
        except OSError:
            blocks[device] = None
    return blocks


class PackageWatch:
    def __init__(self, packages: LocalPackages) -> None:
        self.p = packages

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """cmcld's named tasks for these watchers."""
        return [
            ("monitored-subnets", self.subnets()),
            ("resource-monitor", self.resources()),
            ("mmp-samples", self.mmp_samples()),
        ]

    async def subnets(self) -> None:
        """MONITORED_SUBNET: a running package whose subnet has no interface with its
        link up here fails (and moves), checked every NETWORK_POLLING_INTERVAL."""
        while True:
            await asyncio.sleep(self.p.poll_interval())
            watched = {
                name: self.p.specs[name].monitored_subnets
                for name, runner in self.p.runners.items()
                if runner.state is State.RUNNING
                and name in self.p.specs
                and self.p.specs[name].monitored_subnets
            }
            gone = set(self.p.subnets_down) - set(watched)
            for name in gone:
                del self.p.subnets_down[name]
            if not watched:
                continue
            self.p.settle()
            interfaces = await asyncio.to_thread(read_interfaces)
            up = {
                a.subnet.split("/")[0]
                for i in interfaces
                if i.admin_up and i.link_up
                for a in i.addresses
            }
            for name, subnets in watched.items():
                down = [s for s in subnets if s.split("/")[0] not in up]
                if tuple(down) != self.p.subnets_down.get(name, ()):
                    self.p.subnets_down[name] = tuple(down)
                    self.p.changed()
                runner = self.p.runners.get(name)
                if down and runner is not None and runner.state is State.RUNNING:
                    self.p.package_failed(runner, f"monitored subnet {down[0]} is down")

    async def resources(self) -> None:
        """Every NETWORK_POLLING_INTERVAL, monitor the resources of each running package
        (floating IPs, filesystems, volume groups, OCF agents, scripts): one that
        failed behind our back (an address deleted, a filesystem unmounted, an agent's
        monitor not running) fails the package here, and the coordinator moves it."""
        while True:
            await asyncio.sleep(self.p.poll_interval())
            for runner in list(self.p.runners.values()):
                if runner.unclean and not self.p.stopping_now and await runner.reclaim():
                    self.p.changed()  # held here no more: the coordinator may place it
                if runner.state is not State.RUNNING or self.p.stopping_now:
                    continue
                failed = await runner.check()
                if failed is not None and isinstance(failed[0], FloatingIP):
                    self.p.settle()  # a link that just failed: its standby may take over
                    failed = await runner.check()
                if failed is not None and self.p.runners.get(runner.name) is runner:
                    resource, health = failed
                    self.p.package_failed(runner, f"{resource.label}: {health.reason}")
                elif failed is None and runner.ignored:
                    # Maintenance mode: what failed is healthy again (a dead service or
                    # a subnet down still shows, in the report's `ailing`).
                    runner.ignored = ""
                    self.p.changed()

    async def mmp_samples(self) -> None:
        """While a package is not mounted here, sample the MMP block of each of its
        filesystems (a quarter of the holder's update interval apart), so that taking
        it over starts from what the holder did: most of the quiet window has passed
        by the time the cluster lets the package move (see cluster.resources.mmp)."""
        due: dict[str, float] = {}
        while True:
            await asyncio.sleep(MMP_TICK)
            # Sampled: devices of packages not mounted here. Kept: what was seen of any
            # device configured here (a takeover in progress reads it).
            devices: set[str] = set()
            known: set[str] = set()
            for runner in self.p.runners.values():
                idle = runner.state in (State.HALTED, State.FAILED)
                idle = idle and not runner.active_resources()
                for resource in runner.resources:
                    if isinstance(resource, Filesystem) and resource.mmp_capable:
                        known.add(resource.device)
                        if idle:
                            devices.add(resource.device)
            self.p.mmp.forget(known)
            for device in set(due) - devices:
                del due[device]
            now = time.monotonic()
            todo = sorted(d for d in devices if due.get(d, 0.0) <= now)
            if not todo:
                continue
            blocks = await asyncio.to_thread(_sample_mmp, todo)
            for device, block in blocks.items():
                self.p.mmp.record(device, block)
                due[device] = now + (mmp.sample_period(block) if block else MMP_IDLE_PERIOD)
