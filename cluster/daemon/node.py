"""The local node as the servicers see it: facts about this host, its peers, and its
configuration (delegated to ConfigService)."""

import asyncio
import logging
import os
import platform
import socket
import time
from collections.abc import AsyncIterator, Sequence

from cluster.config.files import FileStatus
from cluster.config.problems import Problem
from cluster.core.model import ClusterView, NodeInfo, NodeQuery
from cluster.daemon.background import Background
from cluster.daemon.cluster_ops import ClusterCommands
from cluster.daemon.config_ops import ConfigService
from cluster.daemon.configstore import ConfigStore
from cluster.daemon.distribute import node_addresses
from cluster.daemon.logs import level_name, parse_level
from cluster.daemon.membership import MembershipDriver
from cluster.daemon.view import cluster_view
from cluster.errors import CmError, FieldError
from cluster.names import node_name_problem
from cluster.network.interfaces import read_interfaces
from cluster.pb.v1 import config_pb2 as pb
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
    ) -> None:
        self._name = name
        self._dialer = dialer
        self._stats = stats
        self._store = store
        self._config = config
        self._membership = membership
        self._commands = commands
        self._background = background
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

    def check_files(self, paths: Sequence[str]) -> list[tuple[str, FileStatus]]:
        return self._config.check_files(paths)

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
        # No package runs yet (packages arrive with the package runner), so there is
        # nothing for -f to halt first.
        return self._background.detach(self._commands.halt_cluster(caller), "cmhaltcl")

    def node_command(self, node: str, run: bool, force: bool, caller: str) -> AsyncIterator[str]:
        if node:
            problem = node_name_problem(node)
            if problem:
                raise FieldError("node_name", problem)
        what = "cmrunnode" if run else "cmhaltnode"
        return self._background.detach(self._commands.on_node(node, run, force, caller), what)

    def view(self) -> ClusterView:
        return cluster_view(self._membership, self._store.generation)
