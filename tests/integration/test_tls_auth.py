"""Mutual TLS and roles against a real cmcld process: every refusal is clear."""

import contextlib
from pathlib import Path

import grpc

from cluster.pb.v1 import node_pb2, services_pb2_grpc
from cluster.security.identity import Role
from cluster.security.pem import load_credentials
from tests.support import ClusterCA, Daemon, command_env, run


def client_env(daemon: Daemon, bundle: Path) -> dict[str, str]:
    return command_env(
        daemon.root.parent / "client-root",
        "client",
        CMCLUSTER_CERT=str(bundle),
        CMCLUSTER_SERVER=daemon.address,
    )


def test_node_certificate_is_served_on_the_node_service(
    daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    bundle = cluster_ca.bundle(tmp_path / "node2.pem", node="node2")
    creds = load_credentials(bundle, None, None)
    channel = grpc.secure_channel(
        daemon.address,
        grpc.ssl_channel_credentials(creds.ca, creds.key, creds.certificate),
        options=[("grpc.ssl_target_name_override", "node1")],
    )
    with channel:
        info = services_pb2_grpc.NodeStub(channel).GetNodeInfo(
            node_pb2.GetNodeInfoRequest(), timeout=10
        )
    assert info.node_name == "node1"
    assert any(i.name == "lo" and i.loopback for i in info.interfaces)


def test_node_certificate_may_not_call_admin_rpc(
    daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    bundle = cluster_ca.bundle(tmp_path / "node2.pem", node="node2")
    result = run(["cmsetlog", "debug"], client_env(daemon, bundle))
    assert result.status == 3, result
    assert result.err.strip() == (
        "cmsetlog: node certificate 'node2' may not call Admin/SetLogLevel: operator "
        "commands need root on a node or a user certificate"
    )
    daemon.wait_for_log("refused /cluster.pb.v1.Admin/SetLogLevel")


def test_user_certificate_may_not_call_node_rpc(
    daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    bundle = cluster_ca.bundle(tmp_path / "alice.pem", user="alice", role=Role.FULL_ADMIN)
    creds = load_credentials(bundle, None, None)
    channel = grpc.secure_channel(
        daemon.address,
        grpc.ssl_channel_credentials(creds.ca, creds.key, creds.certificate),
        options=[("grpc.ssl_target_name_override", "node1")],
    )
    with channel:
        try:
            services_pb2_grpc.NodeStub(channel).GetNodeInfo(
                node_pb2.GetNodeInfoRequest(), timeout=10
            )
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "only nodes of the cluster may" in (err.details() or "")
        else:
            raise AssertionError("a user certificate was served a peer RPC")


def test_monitor_can_read_but_not_change(
    daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    bundle = cluster_ca.bundle(tmp_path / "mon.pem", user="mon", role=Role.MONITOR)
    env = client_env(daemon, bundle)
    read = run(["cmquerycl"], env)
    assert read.status == 0, read
    assert read.out.startswith("Node Names:    node1")
    change = run(["cmsetlog", "debug"], env)
    assert change.status == 3
    assert change.err.strip() == (
        "cmsetlog: user mon has role monitor; Admin/SetLogLevel needs full_admin"
    )


def test_full_admin_can_change(daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path) -> None:
    bundle = cluster_ca.bundle(tmp_path / "admin.pem", user="admin", role=Role.FULL_ADMIN)
    result = run(["cmsetlog", "debug"], client_env(daemon, bundle))
    assert result.status == 0, result
    assert result.out.strip() == "cmcld on node1: log level debug (was info)"
    daemon.wait_for_log("log level set to debug (was info)")


def test_package_admin_is_below_full_admin(
    daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    bundle = cluster_ca.bundle(tmp_path / "pa.pem", user="pa", role=Role.PACKAGE_ADMIN)
    result = run(["cmsetlog", "debug"], client_env(daemon, bundle))
    assert result.status == 3
    assert "has role package_admin; Admin/SetLogLevel needs full_admin" in result.err


def test_certificate_from_another_ca_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    foreign = ClusterCA.create(tmp_path / "foreign-ca", "other")
    bundle = foreign.bundle(tmp_path / "mallory.pem", user="mallory", role=Role.FULL_ADMIN)
    # Trusting the foreign CA, the client already distrusts the server.
    result = run(["cmsetlog", "debug"], client_env(daemon, bundle))
    assert result.status == 4
    assert "presents a certificate not issued by your cluster CA" in result.err
    # Trusting the right CA, the server refuses the client's certificate.
    env = client_env(daemon, bundle)
    env["CMCLUSTER_CA"] = str(daemon.paths.ca_cert)
    result = run(["cmsetlog", "debug"], env)
    assert result.status == 4
    assert result.err.strip().endswith(
        "refused your certificate: it was not issued by this cluster's CA"
    )
    daemon.wait_for_log("the client's certificate is not from this cluster's CA")


def test_expired_certificate_is_refused(
    daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    bundle = cluster_ca.expired_user(tmp_path / "old.pem")
    result = run(["cmquerycl"], client_env(daemon, bundle))
    assert result.status == 4
    assert "refused your certificate: it expired on" in result.err
    assert len(result.err.strip().splitlines()) == 1
    daemon.wait_for_log("the client's certificate has expired")


def test_plaintext_client_is_refused_and_counted(daemon: Daemon) -> None:
    with grpc.insecure_channel(daemon.address) as channel:
        try:
            services_pb2_grpc.AdminStub(channel).GetNodeInfo(
                node_pb2.GetNodeInfoRequest(), timeout=10
            )
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
        else:
            raise AssertionError("a plaintext client was served")
    log = daemon.wait_for_log(
        "TLS handshake refused (1 since start): not TLS (a plaintext client?)"
    )
    assert "Traceback" not in log


def test_client_without_certificate_is_refused(daemon: Daemon) -> None:
    ca_pem = daemon.paths.ca_cert.read_bytes()
    channel = grpc.secure_channel(
        daemon.address,
        grpc.ssl_channel_credentials(ca_pem),
        options=[("grpc.ssl_target_name_override", "node1")],
    )
    with channel:
        try:
            services_pb2_grpc.AdminStub(channel).GetNodeInfo(
                node_pb2.GetNodeInfoRequest(), timeout=10
            )
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
        else:
            raise AssertionError("a client without a certificate was served")
    daemon.wait_for_log("the client sent no certificate")


def test_refusals_are_counted_apart_from_calls(
    daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    with grpc.insecure_channel(daemon.address) as channel, contextlib.suppress(grpc.RpcError):
        services_pb2_grpc.AdminStub(channel).GetNodeInfo(node_pb2.GetNodeInfoRequest(), timeout=10)
    daemon.wait_for_log("TLS handshake refused")
    root = run(["cmquerycl", "-v"], command_env(daemon.root, "node1"))
    assert root.status == 0, root
    assert "transport: tls_handshakes_refused 1" in root.out


def test_root_uses_the_local_socket(daemon: Daemon) -> None:
    result = run(["cmsetlog"], command_env(daemon.root, "node1"))
    assert result.status == 0, result
    assert result.out.strip() == "cmcld on node1: log level info"
    mode = daemon.paths.run_dir.stat().st_mode & 0o777
    assert mode == 0o700
    assert daemon.paths.admin_socket.stat().st_mode & 0o077 == 0


def test_non_root_without_certificate_is_told_what_to_do(daemon: Daemon) -> None:
    import os

    env = command_env(daemon.root, "node1")
    result = run(
        ["cmsetlog"],
        env,
        command=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *_python()],
    )
    assert result.status == 3, result
    assert "cm* commands run as root on a cluster node, or with a user certificate" in result.err
    assert os.geteuid() == 0


def _python() -> list[str]:
    import sys

    return [sys.executable, "-m", "cluster"]


def test_rpc_not_built_yet_says_so(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    """A method the servicer leaves to the generated base class (as a newer client may
    call on an older daemon) is refused with the version, through the real authorizer."""
    import asyncio

    from grpc import aio

    from cluster.pb.v1 import view_pb2
    from cluster.transport.auth import Authorizer
    from cluster.transport.stats import TransportStats
    from cluster.transport.tls import server_credentials
    from cluster.version import __version__
    from tests.support import members

    node = load_credentials(cluster_ca.bundle(tmp_path / "n1.pem", node="node1"), None, None)
    admin = load_credentials(
        cluster_ca.bundle(tmp_path / "admin.pem", user="admin", role=Role.FULL_ADMIN), None, None
    )

    async def scenario() -> None:
        server = aio.server(interceptors=[Authorizer("node1", TransportStats(), members("node1"))])
        base = services_pb2_grpc.AdminServicer()  # type: ignore[abstract]
        services_pb2_grpc.add_AdminServicer_to_server(base, server)
        port = server.add_secure_port("127.0.0.1:0", server_credentials(node))
        await server.start()
        try:
            channel = aio.secure_channel(
                f"127.0.0.1:{port}",
                grpc.ssl_channel_credentials(admin.ca, admin.key, admin.certificate),
                options=[("grpc.ssl_target_name_override", "node1")],
            )
            async with channel:
                try:
                    await services_pb2_grpc.AdminStub(channel).ViewCluster(
                        view_pb2.ViewClusterRequest(), timeout=10
                    )
                except grpc.RpcError as err:
                    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
                    assert err.details() == f"not available in cmcluster {__version__}"
                else:
                    raise AssertionError("an unbuilt RPC answered")
        finally:
            await server.stop(0)

    asyncio.run(scenario())
