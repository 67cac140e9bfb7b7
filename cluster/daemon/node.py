"""The local node as the servicers see it: facts about this host, its peers, and its
configuration (delegated to ConfigService)."""

import asyncio
import dataclasses
import logging
import os
import platform
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence

from cluster.config.files import FileStatus
from cluster.config.problems import Problem
from cluster.core.model import ClusterView, NodeInfo, NodeQuery
from cluster.daemon.background import Background
from cluster.daemon.cluster_ops import ClusterCommands
from cluster.daemon.config_ops import ConfigService
from cluster.daemon.configstore import ConfigStore
from cluster.daemon.distribute import node_addresses
from cluster.daemon.lan import LanFailover
from cluster.daemon.logs import level_name, parse_level
from cluster.daemon.membership import MembershipDriver
from cluster.daemon.package_ops import PackageOps
from cluster.daemon.view import cluster_view
from cluster.errors import CmError, FieldError
from cluster.names import node_name_problem
from cluster.network.interfaces import read_interfaces
from cluster.pb.v1 import config_pb2 as pb
from cluster.pb.v1 import package_pb2
from cluster.security.identity import Identity
from cluster.transport.peers import PeerDialer
from cluster.transport.stats import TransportStats
from cluster.version import __version__

QUERY_TIMEOUT = 5.0


class LocalNode:
    def __init__(
        self,
        *,
        name: str,
        dialer: PeerDialer,
        stats: TransportStats,
        store: ConfigStore,
        config: ConfigService,
        membership: MembershipDriver,
        commands: ClusterCommands,
        background: Background,
        packages: PackageOps,
        lan: LanFailover | None = None,
        warnings: Callable[[], list[str]] = list,
    ) -> None:
        self._name = name
        self._dialer = dialer
        self._stats = stats
        self._store = store
        self._config = config
        self._membership = membership
        self._commands = commands
        self._background = background
        self._packages = packages
        self._lan = lan
        self._warnings = warnings
        self._started = time.monotonic()

    @property
    def node_name(self) -> str:
        return self._name

    async def node_info(self) -> NodeInfo:
        interfaces = await asyncio.to_thread(read_interfaces)
        return NodeInfo(
            node_name=self._name,
            version=__version__,
            host_name=socket.gethostname(),
            cluster_name=self._store.cluster_name,
            pid=os.getpid(),
            uptime_seconds=time.monotonic() - self._started,
            interfaces=tuple(interfaces),
            kernel=platform.release(),
            python=platform.python_version(),
            counters=self._stats.snapshot(),
            config_generation=self._store.generation,
        )

    async def query_nodes(self, names: Sequence[str]) -> list[NodeQuery]:
        for name in names:
            problem = node_name_problem(name)
            if problem:
                raise FieldError("node_names", problem)
        return list(await asyncio.gather(*(self._query(name) for name in names)))

    async def _query(self, name: str) -> NodeQuery:
        if name == self._name:
            return NodeQuery(name, await self.node_info())
        # A configured node is found at its configured addresses; before a cluster is
        # configured, as Serviceguard does: through the host's resolver (/etc/hosts,
        # DNS), on the cluster port.
        addresses = node_addresses(name, self._store.config)
        try:
            info = await self._dialer.node_info(name, addresses, QUERY_TIMEOUT)
        except CmError as exc:
            return NodeQuery(name, None, str(exc))
        return NodeQuery(name, info)

    def set_log_level(self, level: str) -> tuple[str, str]:
        root = logging.getLogger()
        previous = level_name(root.level)
        if level:
            root.setLevel(parse_level(level))
            logging.getLogger("cmcld").warning(
                "log level set to %s (was %s)", level_name(root.level), previous
            )
        return previous, level_name(root.level)

    # Configuration: see ConfigService.

    def stage_config(self, caller: str, request: pb.StageConfigRequest) -> int:
        return self._config.stage_config(caller, request)

    def commit_config(self, caller: str, request: pb.CommitConfigRequest) -> int:
        return self._config.commit_config(caller, request)

    def abort_config(self, caller: str, transaction: str) -> None:
        self._config.abort_config(caller, transaction)

    def fetch_config(self, newer_than: int) -> pb.ConfigBlob | None:
        return self._config.fetch_config(newer_than)

    def check_files(self, caller: str, candidate: pb.ClusterConfig) -> list[tuple[str, FileStatus]]:
        return self._config.check_files(caller, candidate)

    async def check_config(self, request: pb.CheckConfigRequest) -> list[Problem]:
        return await self._config.check_config(request)

    def apply_config(self, request: pb.ApplyConfigRequest, caller: Identity) -> AsyncIterator[str]:
        return self._config.apply_config(request, caller)

    def delete_config(self, package: str, caller: Identity) -> AsyncIterator[str]:
        return self._config.delete_config(package, caller)

    def applied_config(self) -> pb.ConfigBlob | None:
        return self._config.applied_config()

    # Membership: see ClusterCommands and daemon/view.py.

    def run_cluster(self, nodes: Sequence[str], caller: str) -> AsyncIterator[str]:
        for name in nodes:
            problem = node_name_problem(name)
            if problem:
                raise FieldError("node_names", problem)
        return self._background.detach(self._commands.run_cluster(nodes, caller), "cmruncl")

    def halt_cluster(self, force: bool, caller: str) -> AsyncIterator[str]:
        return self._background.detach(self._halt_cluster(force, caller), "cmhaltcl")

    async def _halt_cluster(self, force: bool, caller: str) -> AsyncIterator[str]:
        """Serviceguard: cmhaltcl refuses while packages run; -f halts them first."""
        if self._membership.active():
            views = await self._packages.views()
            up = [v.name for v in views if v.status == "up" or v.state in ("starting", "halting")]
            if up and not force:
                raise CmError(
                    f"packages are running ({', '.join(up)}): halt them first (cmhaltpkg), "
                    "or use cmhaltcl -f to halt them with the cluster"
                )
            if up:
                request = package_pb2.PackageCommandRequest(
                    halt_all=package_pb2.HaltAllRequest(), operator=caller, issued_on=self._name
                )
                async for line in self._packages.command(request):
                    yield line
        async for line in self._commands.halt_cluster(caller):
            yield line

    def node_command(self, node: str, run: bool, force: bool, caller: str) -> AsyncIterator[str]:
        if node:
            problem = node_name_problem(node)
            if problem:
                raise FieldError("node_name", problem)
        what = "cmrunnode" if run else "cmhaltnode"
        if not run and node in ("", self._name):
            return self._background.detach(self._halt_node_here(caller), what)
        return self._background.detach(self._commands.on_node(node, run, force, caller), what)

    async def _halt_node_here(self, caller: str) -> AsyncIterator[str]:
        """cmhaltnode: packages move away (or halt) first, then the node leaves."""
        try:
            async for line in self._packages.halt_here():
                yield line
            async for line in self._commands.on_node("", False, False, caller):
                yield line
        finally:
            self._packages.halting_done()

    async def view(self) -> ClusterView:
        base = cluster_view(self._membership, self._store.generation)
        nodes = base.nodes
        if self._lan is not None:
            interfaces = tuple(await asyncio.to_thread(self._lan.status))
            nodes = tuple(
                dataclasses.replace(n, interfaces=interfaces) if n.name == self._name else n
                for n in nodes
            )
        reports = await self._packages.gather()
        return dataclasses.replace(
            base,
            nodes=nodes,
            packages=await self._packages.views(reports),
            warnings=(*self._warnings(), *self._packages.warnings(reports)),
        )

    # Packages: see PackageOps, coordinator.py and packages.py.

    def _package_command(self, caller: str, **command: object) -> AsyncIterator[str]:
        request = package_pb2.PackageCommandRequest(
            operator=caller,
            issued_on=self._name,
            **command,  # type: ignore[arg-type]
        )
        what = f"cm{request.WhichOneof('command')}pkg"
        return self._background.detach(self._packages.command(request), what)

    def run_package(
        self, package: str, node: str, caller: str, modules: tuple[str, ...] = (), preview: int = 0
    ) -> AsyncIterator[str]:
        run = package_pb2.RunPackageRequest(
            package_name=package,
            node_name=node,
            modules=list(modules),
            preview=preview,  # type: ignore[arg-type]
        )
        return self._package_command(caller, run=run)

    def halt_package(
        self, package: str, node: str, caller: str, modules: tuple[str, ...] = (), preview: int = 0
    ) -> AsyncIterator[str]:
        halt = package_pb2.HaltPackageRequest(
            package_name=package,
            node_name=node,
            modules=list(modules),
            preview=preview,  # type: ignore[arg-type]
        )
        return self._package_command(caller, halt=halt)

    def evaluate(self, request: package_pb2.EvaluateRequest, caller: str) -> AsyncIterator[str]:
        if request.halt_this_node:
            request.halt_nodes.append(self._name)
        if request.join_this_node:
            request.join_nodes.append(self._name)
        request.halt_this_node = request.join_this_node = False
        return self._package_command(caller, evaluate=request)

    def modify_package(
        self,
        package: str,
        enable: bool,
        nodes: Sequence[str],
        caller: str,
        *,
        maintenance: bool | None = None,
        preview: int = 0,
    ) -> AsyncIterator[str]:
        modify = package_pb2.ModifyPackageRequest(
            package_name=package,
            enable=enable,
            node_names=list(nodes),
            preview=preview,  # type: ignore[arg-type]
        )
        if maintenance is not None:
            modify.maintenance = modify.MAINTENANCE_ON if maintenance else modify.MAINTENANCE_OFF
        return self._package_command(caller, modify=modify)

    async def execute_package_action(
        self, action: package_pb2.PackageAction
    ) -> package_pb2.PackageReport:
        return await self._packages.execute(action)

    def take_package_report(self, caller: str, report: package_pb2.NodePackages) -> None:
        self._packages.take_report(report)

    def package_report(self, epoch: int) -> package_pb2.NodePackages:
        return self._packages.report_for(epoch)

    def set_package_flags(self, caller: str, flags: package_pb2.PackageFlags) -> None:
        self._packages.set_flags(caller, flags)

    def package_command(
        self, request: package_pb2.PackageCommandRequest, caller: str
    ) -> AsyncIterator[str]:
        return self._packages.command_here(request, caller)
