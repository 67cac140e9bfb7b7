"""gRPC servers: cmcld (mutual TLS on TCP, local credentials on the admin socket) and
cmqsd (mutual TLS)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grpc import aio

from cluster.errors import CmError
from cluster.names import shown
from cluster.pb.v1 import services_pb2_grpc
from cluster.security.pem import Credentials
from cluster.transport.admin_service import AdminServicer
from cluster.transport.auth import Authority, Authorizer, CertificateCheck
from cluster.transport.backend import NodeBackend
from cluster.transport.heartbeat import HeartbeatLinks
from cluster.transport.localsocket import AdminSocket
from cluster.transport.node_service import NodeServicer
from cluster.transport.options import server_options
from cluster.transport.quorum import QuorumBackend, QuorumServicer
from cluster.transport.stats import TransportStats
from cluster.transport.tls import (
    local_server_credentials,
    renewable_server_credentials,
    server_credentials,
)


@dataclass
class RunningServer:
    server: aio.Server
    port: int  # the bound TCP port (useful when asked for port 0)
    admin: AdminSocket | None = None
    admin_server: aio.Server | None = None

    async def stop(self, grace: float) -> None:
        if self.admin is not None:
            await self.admin.close()
        if self.admin_server is not None:
            await self.admin_server.stop(grace)
        await self.server.stop(grace)


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    digits = port.isascii() and port.isdigit() and len(port) <= 5
    if not sep or not digits or not host or len(host) > 255 or int(port) > 65535:
        raise CmError(f"--listen {shown(listen, 80)}: expected HOST:PORT, e.g. 0.0.0.0:5302")
    return host, int(port)


async def start_node_server(
    *,
    listen: str,
    credentials: Credentials | Callable[[], Credentials],
    admin_socket: Path | None,
    backend: NodeBackend,
    links: HeartbeatLinks,
    stats: TransportStats,
    authority: Authority,
    certificates: CertificateCheck | None = None,
    admin_gid: int | None = None,
) -> RunningServer:
    """Serve the Node and Admin services with mutual TLS on `listen`, and the Admin
    service to root on `admin_socket` from a server of its own: a flood of TCP
    connections uses up the TCP server's connection cap, never root's way in."""
    split_listen(listen)
    admin = AdminSocket(admin_socket, backend.node_name, stats, admin_gid) if admin_socket else None
    authorizer = Authorizer(
        backend.node_name, stats, authority, certificates=certificates, local_peers=admin
    )
    server = aio.server(interceptors=[authorizer], options=server_options())
    # RPCs of capabilities not built yet keep the generated behaviour (UNIMPLEMENTED),
    # which the authorizer reports as "not available in cmcluster VERSION".
    admin_servicer = AdminServicer(backend)  # type: ignore[abstract]
    services_pb2_grpc.add_NodeServicer_to_server(NodeServicer(backend, links), server)  # type: ignore[abstract]
    services_pb2_grpc.add_AdminServicer_to_server(admin_servicer, server)
    port = _listen(server, listen, credentials)
    local: aio.Server | None = None
    if admin is not None:
        local = aio.server(interceptors=[authorizer], options=server_options(tcp=False))
        services_pb2_grpc.add_AdminServicer_to_server(admin_servicer, local)
        inner = admin.prepare()
        try:
            local.add_secure_port(inner, local_server_credentials())
        except RuntimeError:
            raise CmError(f"cannot listen on {inner}") from None
    await server.start()
    if admin is not None and local is not None:
        await local.start()
        try:
            await admin.start()
        except CmError:
            await local.stop(0)
            await server.stop(0)
            raise
    return RunningServer(server, port, admin, local)


def _listen(
    server: aio.Server, listen: str, credentials: Credentials | Callable[[], Credentials]
) -> int:
    """Bind `listen` with mutual TLS; `credentials` may be a callable, asked before
    every handshake (a certificate reloaded on SIGHUP serves the next connection)."""
    if callable(credentials):
        tls = renewable_server_credentials(credentials)
    else:
        tls = server_credentials(credentials)
    try:
        port = server.add_secure_port(listen, tls)
    except RuntimeError:
        port = 0
    if not port:
        raise CmError(
            f"cannot listen on {listen}: address in use or not local (is another daemon running?)"
        )
    return port


async def start_quorum_server(
    *,
    listen: str,
    credentials: Credentials | Callable[[], Credentials],
    backend: QuorumBackend,
    server_name: str,
    stats: TransportStats,
    certificates: CertificateCheck,
) -> RunningServer:
    """Serve the Quorum service (cmqsd) with mutual TLS."""
    split_listen(listen)
    authorizer = Authorizer(server_name, stats, certificates=certificates)
    server = aio.server(interceptors=[authorizer], options=server_options())
    services_pb2_grpc.add_QuorumServicer_to_server(QuorumServicer(backend, stats), server)
    port = _listen(server, listen, credentials)
    await server.start()
    return RunningServer(server, port)
