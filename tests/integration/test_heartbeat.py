"""Heartbeat streams between two in-process endpoints over real mutual TLS on loopback."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc import aio

from cluster.core.messages import Intent, Message, Ping
from cluster.pb.v1 import membership_pb2 as pb
from cluster.pb.v1 import services_pb2_grpc
from cluster.security.pem import Credentials, load_credentials
from cluster.transport.auth import Authorizer
from cluster.transport.heartbeat import PROTOCOL_ERRORS, HeartbeatLinks, PathSpec
from cluster.transport.node_service import NodeServicer
from cluster.transport.stats import TransportStats
from cluster.transport.tls import channel_credentials, server_credentials
from tests.support import ClusterCA, members

PING = Ping(1, 1, 5, True, Intent.RUN)


@dataclass
class End:
    name: str
    address: str
    creds: Credentials
    links: HeartbeatLinks
    stats: TransportStats
    got: list[tuple[str, Message]] = field(default_factory=list)
    server: aio.Server | None = None

    async def serve(self, port: int) -> int:
        self.server = aio.server(
            interceptors=[Authorizer(self.name, self.stats, members("a", "b", "c"))]
        )
        servicer = NodeServicer(None, self.links)  # type: ignore[abstract,arg-type]
        services_pb2_grpc.add_NodeServicer_to_server(servicer, self.server)
        bound = self.server.add_secure_port(
            f"{self.address}:{port}", server_credentials(self.creds)
        )
        await self.server.start()
        return bound

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)


def make_end(ca: ClusterCA, tmp: Path, name: str, address: str, cluster: str = "c") -> End:
    creds = load_credentials(ca.bundle(tmp / f"{name}.pem", node=name), None, None)
    stats = TransportStats()
    got: list[tuple[str, Message]] = []
    links = HeartbeatLinks(
        node=name,
        cluster_name=lambda: cluster,
        generation=lambda: 1,
        credentials=creds,
        port=0,
        deliver=lambda peer, message: got.append((peer, message)),
        on_generation=lambda peer, generation: None,
        stats=stats,
    )
    return End(name, address, creds, links, stats, got)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_messages_both_ways_and_redial(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    async def scenario() -> None:
        a = make_end(cluster_ca, tmp_path, "a", "127.0.0.1")
        b = make_end(cluster_ca, tmp_path, "b", "127.0.0.2")
        port = await b.serve(0)
        a.links.port = port
        a.links.set_paths([PathSpec("b", "lan", "127.0.0.1", "127.0.0.2")])
        await until(lambda: a.links.send("b", PING) == 1 and b.links.send("a", PING) == 1)
        await until(lambda: ("a", PING) in b.got and ("b", PING) in a.got)
        assert a.links.status()[0].up
        # b's cmcld goes away and comes back on the same port: a dials again.
        await b.stop()
        await until(lambda: not a.links.status()[0].up)
        await b.serve(port)
        b.got.clear()
        await until(lambda: a.links.send("b", PING) == 1, timeout=10)
        await until(lambda: ("a", PING) in b.got)
        await a.links.close("test over", leaving=True)
        await b.stop()

    asyncio.run(scenario())


def test_peer_of_another_cluster_is_refused(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    async def scenario() -> None:
        a = make_end(cluster_ca, tmp_path, "a", "127.0.0.1", cluster="alpha")
        b = make_end(cluster_ca, tmp_path, "b", "127.0.0.2", cluster="beta")
        a.links.port = await b.serve(0)
        a.links.set_paths([PathSpec("b", "lan", "127.0.0.1", "127.0.0.2")])
        await until(lambda: b.stats.snapshot().get(PROTOCOL_ERRORS, 0) >= 1)
        assert a.links.send("b", PING) == 0
        await a.links.close("test over", leaving=False)
        await b.stop()

    asyncio.run(scenario())


async def _hello_refused(
    cluster_ca: ClusterCA, tmp_path: Path, certificate: str, says: str
) -> tuple[aio.AioRpcError, End]:
    """Dial b's heartbeat with a certificate of node `certificate` and a hello saying
    `says`; the refusal b answers with, and b (stopped)."""
    b = make_end(cluster_ca, tmp_path, "b", "127.0.0.2")
    port = await b.serve(0)
    creds = load_credentials(cluster_ca.bundle(tmp_path / "x.pem", node=certificate), None, None)
    options = [("grpc.ssl_target_name_override", "b")]
    async with aio.secure_channel(
        f"127.0.0.2:{port}", channel_credentials(creds), options=options
    ) as channel:

        async def frames() -> AsyncIterator[pb.HeartbeatFrame]:
            hello = pb.HeartbeatHello(node_name=says, cluster_name="c", path="lan")
            yield pb.HeartbeatFrame(hello=hello)
            await asyncio.sleep(5)

        call = services_pb2_grpc.NodeStub(channel).Heartbeat(frames())
        with pytest.raises(aio.AioRpcError) as refused:
            await call.read()
    await b.stop()
    return refused.value, b


def test_hello_must_match_the_certificate(
    cluster_ca: ClusterCA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A node may speak only as itself: a hello naming another node is refused."""
    with caplog.at_level(logging.WARNING):
        refused, _ = asyncio.run(_hello_refused(cluster_ca, tmp_path, "c", says="a"))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "says 'a', certificate says 'c'" in (refused.details() or "")
    assert "refused heartbeat from c" in caplog.text


def test_a_node_outside_the_configuration_gets_no_heartbeat(
    cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    """A certificate of the cluster CA for a node the configuration does not name (a
    decommissioned node, a node of another cluster) is refused before any frame."""
    refused, b = asyncio.run(_hello_refused(cluster_ca, tmp_path, "z", says="z"))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not a node of this cluster's configuration" in (refused.details() or "")
    assert b.got == []


def test_goodbye_is_logged_apart_from_a_dead_peer(
    cluster_ca: ClusterCA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        a = make_end(cluster_ca, tmp_path, "a", "127.0.0.1")
        b = make_end(cluster_ca, tmp_path, "b", "127.0.0.2")
        a.links.port = await b.serve(0)
        a.links.set_paths([PathSpec("b", "lan", "127.0.0.1", "127.0.0.2")])
        await until(lambda: b.links.send("a", PING) == 1)
        await a.links.close("cmhaltnode", leaving=True)
        await until(lambda: "a closed its heartbeat on lan: cmhaltnode" in caplog.text)
        await b.stop()

    with caplog.at_level(logging.INFO, logger="cmcld.heartbeat"):
        asyncio.run(scenario())


def test_streams_of_peers_no_longer_accepted_are_closed(
    cluster_ca: ClusterCA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A configuration without the peer, or its certificate revoked: the accepting side
    ends the stream (it knows the certificate the peer connected with); the peer's
    redial then meets the authorizer."""

    async def scenario() -> None:
        a = make_end(cluster_ca, tmp_path, "a", "127.0.0.1")
        b = make_end(cluster_ca, tmp_path, "b", "127.0.0.2")
        a.links.port = await b.serve(0)
        a.links.set_paths([PathSpec("b", "lan", "127.0.0.1", "127.0.0.2")])
        await until(lambda: b.links.send("a", PING) == 1)
        seen: list[tuple[str, bytes]] = []

        def keep(peer: str, certificate: bytes) -> bool:
            seen.append((peer, certificate))
            return False

        b.links.drop(keep, "test: revoked")
        assert seen and seen[0][0] == "a"
        assert seen[0][1].startswith(b"-----BEGIN CERTIFICATE-----")
        await until(lambda: b.links.send("a", PING) == 0)
        await a.links.close("test over", leaving=True)
        await b.stop()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "closing the heartbeat of a on lan: test: revoked" in caplog.text
