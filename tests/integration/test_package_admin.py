"""The Admin package commands (RunPackage, HaltPackage, ModifyPackage) in-process, through
the real Authorizer over mutual TLS, against a small backend standing in for cmcld."""

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeAlias, cast

import grpc
from grpc import aio

from cluster.errors import CmError
from cluster.pb.v1 import admin_pb2, package_pb2, services_pb2_grpc
from cluster.security.identity import Role
from cluster.security.pem import Credentials, load_credentials
from cluster.transport.admin_service import AdminServicer
from cluster.transport.auth import Authorizer
from cluster.transport.backend import NodeBackend
from cluster.transport.stats import TransportStats
from cluster.transport.tls import server_credentials
from tests.support import ClusterCA, members


class PackageBackend:
    """The package part of NodeBackend: records each call and answers with lines."""

    node_name = "node1"

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def run_package(
        self, package: str, node: str, caller: str, modules: tuple[str, ...] = (), preview: int = 0
    ) -> AsyncIterator[str]:
        self.calls.append(("run", package, node, caller))
        if package == "broken":
            yield f"Attempting to start package {package}"
            raise CmError(f"package {package} failed to start: run script exited 1")
        yield f"Running package {package} on node {node or 'node1'}"
        yield f"Successfully started package {package} on node {node or 'node1'}"

    async def halt_package(
        self, package: str, node: str, caller: str, modules: tuple[str, ...] = (), preview: int = 0
    ) -> AsyncIterator[str]:
        self.calls.append(("halt", package, node, caller))
        yield f"Halting package {package}"

    async def modify_package(
        self,
        package: str,
        enable: bool,
        nodes: Sequence[str],
        caller: str,
        *,
        maintenance: bool | None = None,
        preview: int = 0,
    ) -> AsyncIterator[str]:
        self.calls.append(("modify", package, enable, tuple(nodes), caller))
        yield f"switching of {package} changed"


Stub: TypeAlias = "services_pb2_grpc.AdminAsyncStub"  # the stub over an aio channel (types only)
Call = Callable[[Stub], Awaitable[None]]


def serve_and_call(
    ca: ClusterCA, tmp: Path, user: Credentials, call: Call, backend: PackageBackend
) -> None:
    node = load_credentials(ca.bundle(tmp / "node1.pem", node="node1"), None, None)

    async def scenario() -> None:
        server = aio.server(interceptors=[Authorizer("node1", TransportStats(), members("node1"))])
        servicer = AdminServicer(cast(NodeBackend, backend))  # type: ignore[abstract]
        services_pb2_grpc.add_AdminServicer_to_server(servicer, server)
        port = server.add_secure_port("127.0.0.1:0", server_credentials(node))
        await server.start()
        try:
            channel = aio.secure_channel(
                f"127.0.0.1:{port}",
                grpc.ssl_channel_credentials(user.ca, user.key, user.certificate),
                options=[("grpc.ssl_target_name_override", "node1")],
            )
            async with channel:
                await call(services_pb2_grpc.AdminStub(channel))
        finally:
            await server.stop(0)

    asyncio.run(scenario())


def user(ca: ClusterCA, tmp: Path, name: str, role: Role) -> Credentials:
    return load_credentials(ca.bundle(tmp / f"{name}.pem", user=name, role=role), None, None)


async def collect(stream: AsyncIterable[admin_pb2.CommandProgress]) -> list[str]:
    """Progress lines as text, the result as 'ok: ...' or 'failed: ...'."""
    out = []
    async for item in stream:
        if item.HasField("result"):
            out.append(f"{'ok' if item.result.ok else 'failed'}: {item.result.message}")
        else:
            out.append(item.line)
    return out


def test_run_package_streams_the_backend_lines_and_a_result(
    cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    got: list[str] = []
    backend = PackageBackend()

    async def call(stub: Stub) -> None:
        request = package_pb2.RunPackageRequest(package_name="pkg1", node_name="node2")
        got.extend(await collect(stub.RunPackage(request, timeout=10)))

    serve_and_call(
        cluster_ca, tmp_path, user(cluster_ca, tmp_path, "pat", Role.PACKAGE_ADMIN), call, backend
    )
    assert got == [
        "Running package pkg1 on node node2",
        "Successfully started package pkg1 on node node2",
        "ok: package pkg1 started",
    ]
    assert backend.calls == [("run", "pkg1", "node2", "user pat (package_admin)")]


def test_a_backend_error_ends_the_stream_with_a_failed_result(
    cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    got: list[str] = []

    async def call(stub: Stub) -> None:
        request = package_pb2.RunPackageRequest(package_name="broken")
        got.extend(await collect(stub.RunPackage(request, timeout=10)))

    serve_and_call(
        cluster_ca,
        tmp_path,
        user(cluster_ca, tmp_path, "al", Role.FULL_ADMIN),
        call,
        PackageBackend(),
    )
    assert got == [
        "Attempting to start package broken",
        "failed: package broken failed to start: run script exited 1",
    ]


def test_halt_and_modify_reach_the_backend(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    got: list[str] = []
    backend = PackageBackend()

    async def call(stub: Stub) -> None:
        halt = package_pb2.HaltPackageRequest(package_name="pkg1")
        got.extend(await collect(stub.HaltPackage(halt, timeout=10)))
        modify = package_pb2.ModifyPackageRequest(
            package_name="pkg1", enable=True, node_names=["node2", "node3"]
        )
        got.extend(await collect(stub.ModifyPackage(modify, timeout=10)))

    serve_and_call(
        cluster_ca, tmp_path, user(cluster_ca, tmp_path, "pat", Role.PACKAGE_ADMIN), call, backend
    )
    assert got == [
        "Halting package pkg1",
        "ok: package pkg1 halted",
        "switching of pkg1 changed",
        "ok: switching of pkg1 enabled on node2, node3",
    ]
    caller = "user pat (package_admin)"
    assert backend.calls == [
        ("halt", "pkg1", "", caller),
        ("modify", "pkg1", True, ("node2", "node3"), caller),
    ]


def _refused(stream: AsyncIterable[admin_pb2.CommandProgress]) -> Awaitable[grpc.RpcError]:
    async def wait() -> grpc.RpcError:
        try:
            await collect(stream)
        except grpc.RpcError as err:
            return err
        raise AssertionError("the call was served")

    return wait()


def test_bad_names_are_refused_naming_the_field(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    errors: list[tuple[grpc.StatusCode, str]] = []
    backend = PackageBackend()

    async def call(stub: Stub) -> None:
        for stream in (
            stub.RunPackage(package_pb2.RunPackageRequest(package_name="-pkg"), timeout=10),
            stub.RunPackage(package_pb2.RunPackageRequest(package_name=""), timeout=10),
            stub.HaltPackage(
                package_pb2.HaltPackageRequest(package_name="pkg1", node_name="no_de"), timeout=10
            ),
            stub.ModifyPackage(
                package_pb2.ModifyPackageRequest(package_name="pkg1", node_names=["ok", "b@d"]),
                timeout=10,
            ),
        ):
            err = await _refused(stream)
            errors.append((err.code(), err.details() or ""))

    serve_and_call(
        cluster_ca, tmp_path, user(cluster_ca, tmp_path, "al", Role.FULL_ADMIN), call, backend
    )
    assert [code for code, _ in errors] == [grpc.StatusCode.INVALID_ARGUMENT] * 4
    assert [text.split(":")[0] for _, text in errors] == [
        "package_name",
        "package_name",
        "node_name",
        "node_names",
    ]
    assert errors[0][1] == (
        "package_name: invalid package name '-pkg': use 1 to 39 letters, digits, '_', '.' "
        "or '-', starting and ending with a letter or digit"
    )
    assert errors[1][1] == "package_name: missing: name the package"
    assert backend.calls == []


def test_a_monitor_certificate_may_not_run_packages(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    errors: list[grpc.RpcError] = []
    backend = PackageBackend()

    async def call(stub: Stub) -> None:
        request = package_pb2.RunPackageRequest(package_name="pkg1")
        errors.append(await _refused(stub.RunPackage(request, timeout=10)))
        modify = package_pb2.ModifyPackageRequest(package_name="pkg1", enable=True)
        errors.append(await _refused(stub.ModifyPackage(modify, timeout=10)))

    serve_and_call(
        cluster_ca, tmp_path, user(cluster_ca, tmp_path, "mon", Role.MONITOR), call, backend
    )
    assert [e.code() for e in errors] == [grpc.StatusCode.PERMISSION_DENIED] * 2
    assert errors[0].details() == (
        "user mon has role monitor; Admin/RunPackage needs package_admin"
    )
    assert backend.calls == []
