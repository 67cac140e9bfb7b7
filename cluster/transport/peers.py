"""cmcld's channels to the other nodes, authenticated by this node's certificate."""

import asyncio

import grpc
from grpc import aio

from cluster.core.model import NodeInfo
from cluster.errors import CmError, Unreachable
from cluster.pb.v1 import node_pb2, services_pb2_grpc
from cluster.security.pem import Credentials
from cluster.transport import diagnose
from cluster.transport.convert import node_info_from_pb
from cluster.transport.options import PEER_CHANNEL_OPTIONS
from cluster.transport.tls import channel_credentials


class PeerDialer:
    """One channel per (address, node name), reused for every call to that peer."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._channels: dict[tuple[str, str], aio.Channel] = {}

    def _channel(self, address: str, node: str) -> aio.Channel:
        channel = self._channels.get((address, node))
        if channel is None:
            options = [*PEER_CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", node)]
            channel = aio.secure_channel(
                address, channel_credentials(self._credentials), options=options
            )
            self._channels[(address, node)] = channel
        return channel

    async def node_info(self, node: str, host: str, port: int, timeout: float) -> NodeInfo:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        stub = services_pb2_grpc.NodeStub(self._channel(address, node))
        try:
            reply = await stub.GetNodeInfo(node_pb2.GetNodeInfoRequest(), timeout=timeout)
        except aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                why = await asyncio.to_thread(
                    diagnose.explain_refusal, host, port, self._credentials, node
                )
                raise Unreachable(why) from None
            if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise Unreachable(
                    f"no answer from {node} at {address} within {timeout:g} s"
                ) from None
            raise CmError(f"{node}: {err.details()}") from None
        if reply.node_name != node:
            raise CmError(f"{address} answered as node {reply.node_name!r}, not {node!r}")
        return node_info_from_pb(reply)

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
