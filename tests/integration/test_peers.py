"""PeerDialer over real mutual TLS on loopback: a peer that was down and came back is
reached at once, not after the old channel's reconnect back-off."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from grpc import aio

from cluster.errors import Unreachable
from cluster.pb.v1 import admin_pb2, node_pb2, package_pb2, services_pb2_grpc
from cluster.security.pem import load_credentials
from cluster.transport.auth import Authorizer
from cluster.transport.peers import PeerDialer
from cluster.transport.stats import TransportStats
from cluster.transport.tls import server_credentials
from tests.support import ClusterCA, members


class Peer(services_pb2_grpc.NodeServicer):
    """A node that answers who it is and streams two lines of progress."""

    async def GetNodeInfo(self, request: Any, context: Any) -> node_pb2.NodeInfo:
        return node_pb2.NodeInfo(node_name="b")

    async def GetPackages(self, request: Any, context: Any) -> package_pb2.NodePackages:
        await asyncio.sleep(0.5)  # slow enough for something to happen meanwhile
        return package_pb2.NodePackages(node_name="b")

    async def PackageCommand(self, request: Any, context: Any) -> AsyncIterator[Any]:
        yield admin_pb2.CommandProgress(line="working")
        yield admin_pb2.CommandProgress(result=admin_pb2.CommandResult(ok=True, message="done"))


async def serve(ca: ClusterCA, tmp: Path, port: int) -> tuple[aio.Server, int]:
    creds = load_credentials(ca.bundle(tmp / "b.pem", node="b"), None, None)
    server = aio.server(interceptors=[Authorizer("b", TransportStats(), members("a", "b"))])
    services_pb2_grpc.add_NodeServicer_to_server(Peer(), server)  # type: ignore[abstract]
    bound = server.add_secure_port(f"127.0.0.1:{port}", server_credentials(creds))
    await server.start()
    return server, bound


@pytest.mark.parametrize("kind", ["unary", "stream"])
def test_peer_back_from_the_dead_is_reached_at_once(
    cluster_ca: ClusterCA, tmp_path: Path, kind: str
) -> None:
    async def ask(dialer: PeerDialer) -> str:
        if kind == "unary":
            return (await dialer.node_info("b", ["127.0.0.1"], timeout=5)).node_name
        lines = [
            text
            async for _, _, text in dialer.stream(
                "b", ["127.0.0.1"], "PackageCommand", package_pb2.PackageCommandRequest(), 5
            )
        ]
        return ",".join(lines)

    async def scenario() -> None:
        server, port = await serve(cluster_ca, tmp_path, 0)
        creds = load_credentials(cluster_ca.bundle(tmp_path / "a.pem", node="a"), None, None)
        dialer = PeerDialer(creds, port)
        try:
            expected = "b" if kind == "unary" else "working,done"
            assert await ask(dialer) == expected
            await server.stop(0)
            with pytest.raises(Unreachable):
                await ask(dialer)
            # The cached channel now waits out a reconnect back-off of 1-2 s; the
            # peer comes back at once and must be answered at once.
            server, _ = await serve(cluster_ca, tmp_path, port)
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await ask(dialer) == expected
            assert loop.time() - started < 0.9
        finally:
            await dialer.close()
            await server.stop(0)

    asyncio.run(scenario())


def test_a_call_in_flight_survives_its_channel_being_replaced_or_closed(
    cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    """Another call that finds the channel broken replaces it while this one is on it
    (PeerDialer._drop): this one still gets its answer. A channel closed under a call
    makes it fail as unreachable, never with CancelledError, which would end the
    caller's whole task (a coordinator that silently stopped placing packages)."""

    async def slow(dialer: PeerDialer) -> str:
        request = package_pb2.GetPackagesRequest(epoch=0)
        reply = await dialer.call("b", ["127.0.0.1"], "GetPackages", request, 5)
        return str(reply.node_name)

    async def scenario() -> None:
        server, port = await serve(cluster_ca, tmp_path, 0)
        creds = load_credentials(cluster_ca.bundle(tmp_path / "a.pem", node="a"), None, None)
        dialer = PeerDialer(creds, port)
        try:
            assert (await dialer.node_info("b", ["127.0.0.1"], timeout=5)).node_name == "b"
            call = asyncio.create_task(slow(dialer))
            await asyncio.sleep(0.2)
            dialer._drop("127.0.0.1", "b")  # as a concurrent call's redial does
            assert await call == "b"
            call = asyncio.create_task(slow(dialer))
            await asyncio.sleep(0.2)
            for channel in list(dialer._channels.values()):
                await channel.close()
            with pytest.raises(Unreachable, match="closed during the call"):
                await call
        finally:
            await dialer.close()
            await server.stop(0)

    asyncio.run(scenario())
