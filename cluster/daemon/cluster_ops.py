"""Cluster commands in cmcld: cmruncl, cmhaltcl, cmrunnode, cmhaltnode.

Each hands one command to the membership core and streams the core's sentences as
progress until the command is done. cmrunnode and cmhaltnode naming another node are
passed to that node's cmcld.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from cluster.core.effects import Command, HaltCluster, HaltNode, RunCluster, RunNode
from cluster.daemon.distribute import node_addresses
from cluster.daemon.membership import MembershipDriver
from cluster.errors import CmError
from cluster.pb.v1 import admin_pb2
from cluster.transport.peers import PeerDialer

COMMAND_SLACK = 30.0  # beyond the core's own deadline for a command


class ClusterCommands:
    def __init__(self, driver: MembershipDriver, peers: PeerDialer) -> None:
        self._driver = driver
        self._peers = peers

    def _timeout(self) -> float:
        timing = self._driver.timing
        if timing is None:
            return COMMAND_SLACK
        # A join may wait AUTO_START_TIMEOUT for a cluster; other commands about MT.
        return max(timing.auto_start_timeout, 50 * timing.round_timeout) / 1e9 + COMMAND_SLACK

    async def run(self, command: Command, operator: str) -> AsyncIterator[str]:
        pending = await self._driver.command(command)
        yield f"{describe(command)} (asked by {operator})"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout()
        while not pending.done.done():
            wait = deadline - loop.time()
            if wait <= 0:
                raise CmError(f"{describe(command)}: no result within {self._timeout():.0f} s")
            note = asyncio.ensure_future(pending.notes.get())
            waiters: set[asyncio.Future[Any]] = {note, pending.done}
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if note.done():
                yield note.result()
            else:
                note.cancel()
        while not pending.notes.empty():
            yield pending.notes.get_nowait()
        ok, detail = pending.done.result()
        if not ok:
            raise CmError(f"{describe(command)} failed: {detail}")

    def run_cluster(self, nodes: Sequence[str], operator: str) -> AsyncIterator[str]:
        return self.run(RunCluster(tuple(sorted(nodes))), operator)

    def halt_cluster(self, operator: str) -> AsyncIterator[str]:
        return self.run(HaltCluster(), operator)

    async def on_node(self, node: str, run: bool, force: bool, operator: str) -> AsyncIterator[str]:
        """cmrunnode/cmhaltnode for `node`: here, or relayed to its cmcld."""
        if not node or node == self._driver.node:
            async for line in self.run(RunNode() if run else HaltNode(), operator):
                yield line
            return
        config = self._driver.config
        if config is None or config.cluster.node(node) is None:
            raise CmError(f"{node} is not a node of this cluster")
        kind = (
            admin_pb2.NodeCommandRequest.KIND_RUN_NODE
            if run
            else admin_pb2.NodeCommandRequest.KIND_HALT_NODE
        )
        request = admin_pb2.NodeCommandRequest(kind=kind, force=force, operator=operator)
        async for is_result, ok, text in self._peers.stream(
            node,
            node_addresses(node, config),
            "NodeCommand",
            request,
            self._timeout() + COMMAND_SLACK,
        ):
            if is_result:
                if not ok:
                    raise CmError(f"{node}: {text}")
                return
            yield f"{node}: {text}"


def describe(command: Command) -> str:
    if isinstance(command, RunCluster):
        nodes = ", ".join(command.nodes) if command.nodes else "every configured node"
        return f"forming the cluster with {nodes}"
    if isinstance(command, HaltCluster):
        return "halting the cluster"
    if isinstance(command, RunNode):
        return "starting this node (joining the cluster)"
    return "halting this node (leaving the cluster)"
