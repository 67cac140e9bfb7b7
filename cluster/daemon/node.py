"""The local node as the servicers see it: facts about this host and its peers."""

import asyncio
import logging
import os
import platform
import socket
import time
from collections.abc import Sequence

from cluster.core.model import NodeInfo, NodeQuery
from cluster.daemon.logs import level_name, parse_level
from cluster.errors import CmError, FieldError
from cluster.names import node_name_problem
from cluster.network.interfaces import read_interfaces
from cluster.transport.peers import PeerDialer
from cluster.transport.stats import TransportStats
from cluster.version import __version__

QUERY_TIMEOUT = 5.0


class LocalNode:
    def __init__(
        self, name: str, peer_port: int, dialer: PeerDialer, stats: TransportStats
    ) -> None:
        self._name = name
        self.peer_port = peer_port  # peers listen on the cluster port, as this node does
        self._dialer = dialer
        self._stats = stats
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
            cluster_name="",
            pid=os.getpid(),
            uptime_seconds=time.monotonic() - self._started,
            interfaces=tuple(interfaces),
            kernel=platform.release(),
            python=platform.python_version(),
            counters=self._stats.snapshot(),
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
        # Before a cluster is configured, node names are found as Serviceguard finds
        # them: through the host's resolver (/etc/hosts, DNS), on the cluster port.
        try:
            info = await self._dialer.node_info(name, name, self.peer_port, QUERY_TIMEOUT)
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
