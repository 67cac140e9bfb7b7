"""A command's connection to cmcld (cmcld's own channels to peers are in peers.py).

A command run by root on a node talks to the local cmcld over the root-only admin
socket and needs no setup, as with Serviceguard. Anyone else presents a user
certificate (`--cert`/`--key` or CMCLUSTER_CERT/CMCLUSTER_KEY) over mutual TLS.
"""

import ipaddress
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from cluster.config.problems import Problem
from cluster.core.model import ClusterView, NodeInfo, NodeQuery
from cluster.errors import CmError, NotAuthorized, Unreachable, UsageError
from cluster.names import shown
from cluster.paths import DEFAULT_PORT, HostPaths
from cluster.pb.v1 import (
    admin_pb2,
    config_pb2,
    node_pb2,
    package_pb2,
    services_pb2_grpc,
    view_pb2,
)
from cluster.security.pem import Credentials, load_credentials
from cluster.transport import diagnose
from cluster.transport.convert import node_info_from_pb, view_from_pb
from cluster.transport.options import COMMAND_CHANNEL_OPTIONS
from cluster.transport.tls import channel_credentials, local_channel_credentials

CERT_ENV, KEY_ENV, CA_ENV, SERVER_ENV = (
    "CMCLUSTER_CERT",
    "CMCLUSTER_KEY",
    "CMCLUSTER_CA",
    "CMCLUSTER_SERVER",
)
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Endpoint:
    """Where a command sends its calls, and as whom."""

    target: str  # gRPC target: "unix:/path" or "host:port"
    credentials: Credentials | None  # None: the local admin socket
    server_name: str | None = None  # the node name expected in the server certificate
    host: str = ""
    port: int = 0
    socket: Path | None = None

    def __str__(self) -> str:
        return str(self.socket) if self.socket else f"{self.host}:{self.port}"


def split_host_port(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """ "node1", "node1:5302", "198.18.0.1:5302", "[2001:db8::1]:5302" -> (host, port)."""
    host, port = text, str(default_port)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif text.count(":") > 1 and not _is_ip(text):
        host = ""  # only a bare IPv6 address may hold several colons
    if not host or not _port_ok(port) or len(host) > 255:
        raise UsageError(f"--server {shown(text, 80)}: expected HOST or HOST:PORT")
    return host, int(port)


def _port_ok(port: str) -> bool:
    """1..65535 in ASCII digits (int() of thousands of digits is an error of its own)."""
    return port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def command_endpoint(
    paths: HostPaths,
    *,
    cert: str | None = None,
    key: str | None = None,
    ca: str | None = None,
    server: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    env = os.environ if environ is None else environ
    cert = cert or env.get(CERT_ENV) or None
    key = key or env.get(KEY_ENV) or None
    ca = ca or env.get(CA_ENV) or None
    server = server or env.get(SERVER_ENV) or None
    if cert:
        ca_path = Path(ca) if ca else None
        if ca_path is None and key is not None and paths.ca_cert.exists():
            ca_path = paths.ca_cert  # separate cert and key on a node: trust its CA
        creds = load_credentials(Path(cert), Path(key) if key else None, ca_path)
        host, port = split_host_port(server) if server else ("127.0.0.1", DEFAULT_PORT)
        # A host name is the node we expect; behind an IP any node of our CA will do.
        name = host if server and not _is_ip(host) else None
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return Endpoint(target, creds, name, host=host, port=port)
    if server:
        raise UsageError(f"--server needs a user certificate (--cert FILE or {CERT_ENV})")
    if os.geteuid() == 0:
        sock = paths.admin_socket
        return Endpoint(f"unix:{sock}", None, socket=sock)
    raise NotAuthorized(
        "cm* commands run as root on a cluster node, or with a user certificate: "
        f"--cert FILE or {CERT_ENV}=FILE (made with: cmcert issue --user NAME --role ROLE)"
    )


@dataclass(frozen=True)
class Outcome:
    """The end of a long operation: whether it succeeded, in one sentence."""

    ok: bool
    message: str


class AdminClient:
    """A command's connection to one cmcld (synchronous: one short conversation)."""

    def __init__(self, endpoint: Endpoint, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        if endpoint.credentials is None:
            self._channel = grpc.secure_channel(
                endpoint.target, local_channel_credentials(), options=COMMAND_CHANNEL_OPTIONS
            )
        else:
            name = endpoint.server_name
            if name is None:
                # Behind an IP: learn the node's name from its certificate; a refusal
                # seen here is explained at once instead of after a doomed call.
                creds = endpoint.credentials
                probe = diagnose.probe_tls(endpoint.host, endpoint.port, creds)
                if not probe.accepted:
                    raise Unreachable(
                        diagnose.explain_refusal(endpoint.host, endpoint.port, creds, None, probe)
                    )
                if not probe.names:
                    raise Unreachable(f"{endpoint} presents a certificate without a node name")
                name = probe.names[0]
            self._server_name = name
            options = [*COMMAND_CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", name)]
            self._channel = grpc.secure_channel(
                endpoint.target, channel_credentials(endpoint.credentials), options=options
            )
        self._stub = services_pb2_grpc.AdminStub(self._channel)

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise self._translate(err) from None

    def _translate(self, err: grpc.RpcError) -> CmError:
        code: grpc.StatusCode = err.code()
        details: str = err.details() or code.name
        if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            return NotAuthorized(details)
        if code == grpc.StatusCode.UNAVAILABLE:
            return Unreachable(self._explain_unavailable())
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return Unreachable(f"no answer from cmcld at {self.endpoint} within {self.timeout:g} s")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return UsageError(details)
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return CmError(f"cmcld at {self.endpoint}: {details} (version mismatch?)")
        return CmError(details)

    def _explain_unavailable(self) -> str:
        ep = self.endpoint
        if ep.socket is not None:
            return diagnose.probe_socket(ep.socket)
        assert ep.credentials is not None
        return diagnose.explain_refusal(ep.host, ep.port, ep.credentials, ep.server_name)

    def node_info(self) -> NodeInfo:
        return node_info_from_pb(self._call("GetNodeInfo", node_pb2.GetNodeInfoRequest()))

    def query_nodes(self, names: Sequence[str]) -> list[NodeQuery]:
        reply = self._call("QueryNodes", node_pb2.QueryNodesRequest(node_names=list(names)))
        return [
            NodeQuery(
                r.node_name, node_info_from_pb(r.info) if r.HasField("info") else None, r.error
            )
            for r in reply.results
        ]

    def check_config(self, request: config_pb2.CheckConfigRequest) -> list[Problem]:
        reply = self._call("CheckConfig", request)
        return [Problem(p.path, p.line, p.message, p.warning) for p in reply.problems]

    def apply_config(self, request: config_pb2.ApplyConfigRequest) -> Iterator[str | Outcome]:
        """Progress lines, then the Outcome."""
        return self._progress("ApplyConfig", request)

    def delete_config(self, package: str) -> Iterator[str | Outcome]:
        return self._progress("DeleteConfig", config_pb2.DeleteConfigRequest(package_name=package))

    def get_config(self) -> config_pb2.ConfigBlob | None:
        reply = self._call("GetConfig", config_pb2.GetConfigRequest())
        return reply.blob if reply.HasField("blob") else None

    def _progress(self, method: str, request: Any) -> Iterator[str | Outcome]:
        try:
            for item in getattr(self._stub, method)(request, timeout=self.timeout):
                if item.HasField("result"):
                    yield Outcome(item.result.ok, item.result.message)
                    return
                yield item.line
        except grpc.RpcError as err:
            raise self._translate(err) from None
        raise CmError(f"cmcld at {self.endpoint} ended {method} without a result; see cmcld.log")

    def run_cluster(self, nodes: Sequence[str]) -> Iterator[str | Outcome]:
        return self._progress("RunCluster", admin_pb2.RunClusterRequest(node_names=list(nodes)))

    def halt_cluster(self, force: bool) -> Iterator[str | Outcome]:
        return self._progress("HaltCluster", admin_pb2.HaltClusterRequest(force=force))

    def run_node(self, node: str) -> Iterator[str | Outcome]:
        return self._progress("RunNode", admin_pb2.RunNodeRequest(node_name=node))

    def halt_node(self, node: str, force: bool) -> Iterator[str | Outcome]:
        return self._progress("HaltNode", admin_pb2.HaltNodeRequest(node_name=node, force=force))

    def run_package(
        self, package: str, node: str, modules: Sequence[str] = (), preview: int = 0
    ) -> Iterator[str | Outcome]:
        request = package_pb2.RunPackageRequest(
            package_name=package,
            node_name=node,
            modules=list(modules),
            preview=preview,  # type: ignore[arg-type]
        )
        return self._progress("RunPackage", request)

    def halt_package(
        self, package: str, node: str, modules: Sequence[str] = (), preview: int = 0
    ) -> Iterator[str | Outcome]:
        request = package_pb2.HaltPackageRequest(
            package_name=package,
            node_name=node,
            modules=list(modules),
            preview=preview,  # type: ignore[arg-type]
        )
        return self._progress("HaltPackage", request)

    def evaluate(self, request: package_pb2.EvaluateRequest) -> Iterator[str | Outcome]:
        return self._progress("Evaluate", request)

    def modify_package(
        self,
        package: str,
        enable: bool,
        nodes: Sequence[str],
        maintenance: bool | None = None,
        preview: int = 0,
    ) -> Iterator[str | Outcome]:
        request = package_pb2.ModifyPackageRequest(
            package_name=package,
            enable=enable,
            node_names=list(nodes),
            preview=preview,  # type: ignore[arg-type]
        )
        if maintenance is not None:
            request.maintenance = request.MAINTENANCE_ON if maintenance else request.MAINTENANCE_OFF
        return self._progress("ModifyPackage", request)

    def view(self) -> ClusterView:
        return view_from_pb(self._call("ViewCluster", view_pb2.ViewClusterRequest()))

    def set_log_level(self, level: str) -> tuple[str, str, str]:
        """Returns (node, previous level, level)."""
        reply = self._call("SetLogLevel", node_pb2.SetLogLevelRequest(level=level))
        return reply.node_name, reply.previous_level, reply.level
