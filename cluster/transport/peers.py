"""cmcld's channels to the other nodes, authenticated by this node's certificate.

A peer may have several addresses (one per heartbeat or data network); a call tries
them in order and the peer counts as unreachable only when every path failed.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from grpc import aio

from cluster.core.model import NodeInfo
from cluster.errors import CmError, NotAuthorized, Unreachable
from cluster.pb.v1 import node_pb2, services_pb2_grpc
from cluster.security.pem import Credentials
from cluster.transport import diagnose
from cluster.transport.convert import node_info_from_pb
from cluster.transport.options import PEER_CHANNEL_OPTIONS
from cluster.transport.tls import channel_credentials


def _ignore_result(task: "asyncio.Future[None]") -> None:
    if not task.cancelled():
        task.exception()


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# A replaced channel is closed only this long after (seconds, beyond any call's
# timeout): closing a channel cancels the calls in flight on it, and a caller awaiting
# one would see CancelledError, which ends its whole task (seen: a coordinator that
# silently stopped placing packages when a view's call replaced its channel).
RETIRE_GRACE = 60.0


def _cancelled_by_channel() -> bool:
    """Whether a CancelledError just caught came from a closed channel, not from a
    cancellation of the calling task itself."""
    task = asyncio.current_task()
    return task is None or task.cancelling() == 0


class PeerDialer:
    """One channel per (address, node name), reused for every call to that peer."""

    def __init__(self, credentials: Credentials, port: int) -> None:
        self._credentials = credentials
        self.port = port
        self._channels: dict[tuple[str, str], aio.Channel] = {}
        self._retiring: set[aio.Channel] = set()

    def renew(self, credentials: Credentials) -> None:
        """Dial with a new certificate from now on: every channel is replaced (the old
        ones close after RETIRE_GRACE, when their calls are over)."""
        self._credentials = credentials
        for target, node in list(self._channels):
            self._drop_key((target, node))

    def _channel(self, host: str, node: str) -> aio.Channel:
        key = (_target(host, self.port), node)
        channel = self._channels.get(key)
        if channel is None:
            options = [*PEER_CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", node)]
            channel = aio.secure_channel(
                key[0], channel_credentials(self._credentials), options=options
            )
            self._channels[key] = channel
        return channel

    def _stub(self, host: str, node: str) -> tuple[services_pb2_grpc.NodeStub, bool]:
        """The stub for a peer, and whether a call that fails UNAVAILABLE on it may be
        tried again on a new channel: only when the channel was not connected, so the
        request surely never left. A channel to a peer that was down sits in reconnect
        back-off and fails calls at once even after the peer is back (seen: cmrunnode
        of a restarted node refused as unreachable)."""
        channel = self._channel(host, node)
        connected = channel.get_state() == grpc.ChannelConnectivity.READY
        return services_pb2_grpc.NodeStub(channel), not connected

    def _drop(self, host: str, node: str) -> None:
        """Use a new channel from now on; the old one closes after RETIRE_GRACE, when
        the calls other tasks still have on it are over."""
        self._drop_key((_target(host, self.port), node))

    def _drop_key(self, key: tuple[str, str]) -> None:
        channel = self._channels.pop(key, None)
        if channel is None:
            return
        self._retiring.add(channel)

        def retire() -> None:
            if channel in self._retiring:
                self._retiring.discard(channel)
                asyncio.ensure_future(channel.close()).add_done_callback(_ignore_result)

        asyncio.get_running_loop().call_later(RETIRE_GRACE, retire)

    async def call(
        self, node: str, addresses: Sequence[str], method: str, request: Any, timeout: float
    ) -> Any:
        """Call Node/`method` on `node`, trying each address; raises Unreachable (with
        the reason the last address gave), NotAuthorized or CmError."""
        last = ""
        for host in addresses:
            try:
                stub, retry = self._stub(host, node)
                try:
                    return await getattr(stub, method)(request, timeout=timeout)
                except aio.AioRpcError as err:
                    if err.code() != grpc.StatusCode.UNAVAILABLE or not retry:
                        raise
                self._drop(host, node)
                stub, _ = self._stub(host, node)
                return await getattr(stub, method)(request, timeout=timeout)
            except asyncio.CancelledError:
                if not _cancelled_by_channel():
                    raise
                last = f"the channel to {_target(host, self.port)} was closed during the call"
                continue
            except aio.AioRpcError as err:
                code = err.code()
                if code == grpc.StatusCode.UNAVAILABLE:
                    last = await asyncio.to_thread(
                        diagnose.explain_refusal, host, self.port, self._credentials, node
                    )
                    continue
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    last = f"no answer from {_target(host, self.port)} within {timeout:g} s"
                    continue
                if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                    raise NotAuthorized(f"{node}: {err.details()}") from None
                raise CmError(f"{node}: {err.details()}") from None
        raise Unreachable(last or f"no address known for node {node}")

    async def node_info(self, node: str, addresses: Sequence[str], timeout: float) -> NodeInfo:
        reply = await self.call(
            node, addresses, "GetNodeInfo", node_pb2.GetNodeInfoRequest(), timeout
        )
        if reply.node_name != node:
            raise CmError(f"{node} answered as node {reply.node_name!r}")
        return node_info_from_pb(reply)

    async def stream(
        self, node: str, addresses: Sequence[str], method: str, request: Any, timeout: float
    ) -> AsyncIterator[tuple[bool, bool, str]]:
        """A streaming Node RPC of CommandProgress, as (is_result, ok, text) items."""
        last = ""
        for host in addresses:
            stub, retry = self._stub(host, node)
            for attempt in range(2):
                answered = False
                call = getattr(stub, method)(request, timeout=timeout)
                try:
                    async for item in call:
                        answered = True
                        if item.HasField("result"):
                            yield True, item.result.ok, item.result.message
                            return
                        yield False, True, item.line
                    return
                except asyncio.CancelledError:
                    if not _cancelled_by_channel():
                        raise
                    last = f"{host}: the channel was closed during the call"
                    break
                except aio.AioRpcError as err:
                    if err.code() != grpc.StatusCode.UNAVAILABLE:
                        raise CmError(f"{node}: {err.details()}") from None
                    last = f"{host}: unreachable"
                    if answered or not retry or attempt:
                        break
                    self._drop(host, node)
                    stub, _ = self._stub(host, node)
        raise Unreachable(f"node {node}: {last or 'no address'}")

    async def close(self) -> None:
        channels = [*self._channels.values(), *self._retiring]
        self._channels, self._retiring = {}, set()
        for channel in channels:
            await channel.close()
