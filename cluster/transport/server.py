"""gRPC servers: cmcld (mutual TLS on TCP, local credentials on the admin socket) and
cmqsd (mutual TLS)."""

import os
from dataclasses import dataclass
from pathlib import Path

from grpc import aio

from cluster.errors import CmError
from cluster.pb.v1 import services_pb2_grpc
from cluster.security.pem import Credentials
from cluster.security.trust import TrustBundle
from cluster.transport.admin_service import AdminServicer
from cluster.transport.auth import Authorizer
from cluster.transport.backend import NodeBackend
from cluster.transport.heartbeat import HeartbeatLinks
from cluster.transport.node_service import NodeServicer
from cluster.transport.options import SERVER_OPTIONS
from cluster.transport.quorum import QuorumBackend, QuorumServicer
from cluster.transport.stats import TransportStats
from cluster.transport.tls import local_server_credentials, server_credentials


@dataclass
class RunningServer:
    server: aio.Server
    port: int  # the bound TCP port (useful when asked for port 0)

    async def stop(self, grace: float) -> None:
        await self.server.stop(grace)


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise CmError(f"--listen {listen!r}: expected HOST:PORT, e.g. 0.0.0.0:5302")
    return host, int(port)


async def start_node_server(
    *,
    listen: str,
    credentials: Credentials,
    admin_socket: Path | None,
    backend: NodeBackend,
    links: HeartbeatLinks,
    stats: TransportStats,
) -> RunningServer:
    """Serve the Node and Admin services; raises CmError when an address is taken."""
    split_listen(listen)
    server = aio.server(interceptors=[Authorizer(backend.node_name, stats)], options=SERVER_OPTIONS)
    # RPCs of capabilities not built yet keep the generated behaviour (UNIMPLEMENTED),
    # which the authorizer reports as "not available in cmcluster VERSION".
    node_servicer = NodeServicer(backend, links)  # type: ignore[abstract]
    admin_servicer = AdminServicer(backend)  # type: ignore[abstract]
    services_pb2_grpc.add_NodeServicer_to_server(node_servicer, server)
    services_pb2_grpc.add_AdminServicer_to_server(admin_servicer, server)
    port = _listen(server, listen, credentials)
    if admin_socket is not None:
        _prepare_socket_dir(admin_socket.parent)
        try:
            server.add_secure_port(f"unix:{admin_socket}", local_server_credentials())
        except RuntimeError:
            raise CmError(f"cannot listen on {admin_socket}") from None
    await server.start()
    if admin_socket is not None:
        os.chmod(admin_socket, 0o600)
    return RunningServer(server, port)


def _listen(server: aio.Server, listen: str, credentials: Credentials) -> int:
    try:
        port = server.add_secure_port(listen, server_credentials(credentials))
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
    credentials: Credentials,
    backend: QuorumBackend,
    trust: TrustBundle,
    server_name: str,
    stats: TransportStats,
) -> RunningServer:
    """Serve the Quorum service (cmqsd) with mutual TLS."""
    split_listen(listen)
    server = aio.server(interceptors=[Authorizer(server_name, stats)], options=SERVER_OPTIONS)
    services_pb2_grpc.add_QuorumServicer_to_server(QuorumServicer(backend, trust), server)
    port = _listen(server, listen, credentials)
    await server.start()
    return RunningServer(server, port)


def _prepare_socket_dir(directory: Path) -> None:
    """The admin socket grants full_admin to whoever connects: only the daemon's own
    user (root) may enter its directory."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    if directory.stat().st_uid != os.geteuid():
        raise CmError(f"{directory}: owned by another user; refusing to serve the admin socket")
