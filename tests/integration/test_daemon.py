"""cmcld as a process: readiness, clean shutdown, refusal to start in a bad state."""

import datetime as dt
import os
import pwd
import signal
import socket
import time
from pathlib import Path

import pytest

from cluster.paths import HostPaths
from cluster.security.identity import Identity, Kind
from tests.support import ClusterCA, Daemon, command_env, run, start_daemon


def test_sigterm_stops_cleanly(daemon: Daemon) -> None:
    assert daemon.paths.admin_socket.exists()
    assert daemon.stop() == 0
    log = daemon.log()
    assert "cmcld stopping on signal" in log
    assert log.rstrip().endswith("cmcld stopped")
    assert not daemon.paths.cmcld_pid.exists()
    result = run(["cmquerycl"], command_env(daemon.root, "node1"))
    assert result.status == 4
    assert result.err.strip().startswith("cmquerycl: cmcld is not running on this node")


def test_sigusr1_logs_where_every_task_waits(daemon: Daemon) -> None:
    daemon.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while "SIGUSR1:" not in daemon.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    dump = daemon.log().split("SIGUSR1:", 1)[1]
    for task in ("membership: ", "catch-up: ", "resource-monitor: ", "mmp-samples: "):
        assert f"\n  {task}" in dump, dump
    assert daemon.process.poll() is None  # still serving
    assert run(["cmsetlog"], command_env(daemon.root, "node1")).status == 0


def test_second_daemon_on_the_same_root_is_refused(daemon: Daemon) -> None:
    result = run(
        ["cmcld", "--listen", "127.0.0.1:0", "--no-syslog"], command_env(daemon.root, "node1")
    )
    assert result.status == 1
    assert result.err.strip() == (
        f"cmcld: cmcld is running already (pid {daemon.process.pid}, lock {daemon.paths.cmcld_pid})"
    )
    # The running daemon still answers.
    assert run(["cmsetlog"], command_env(daemon.root, "node1")).status == 0


def test_port_in_use_is_refused(daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path) -> None:
    other = tmp_path / "other"
    cluster_ca.install_node(other, "node2")
    result = run(["cmcld", "--listen", daemon.address, "--no-syslog"], command_env(other, "node2"))
    assert result.status == 1
    assert f"cannot listen on {daemon.address}: address in use" in result.err
    assert "Traceback" not in result.err
    # The lease guard it started is retired with it: nothing ran under it (it was left
    # running once, one more idle process for every failed start).
    from cluster.guard.client import Guard

    deadline = time.monotonic() + 10
    while Guard.running_pid(HostPaths(other)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Guard.running_pid(HostPaths(other))


def test_missing_certificate_says_how_to_make_one(tmp_path: Path) -> None:
    result = run(["cmcld", "--no-syslog"], command_env(tmp_path / "bare", "node1"))
    assert result.status == 1
    assert "no certificate in" in result.err
    assert "cmcert issue --node node1" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_certificate_of_another_node_is_refused(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    root = tmp_path / "node1"
    cluster_ca.install_node(root, "node1")
    result = run(["cmcld", "--no-syslog"], command_env(root, "node9"))
    assert result.status == 1
    assert "is for node node1, but this host is node node9" in result.err


def test_expired_node_certificate_is_refused(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    from cluster.security import ca

    root = tmp_path / "node1"
    cluster_ca.install_node(root, "node1")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=5)
    old = ca.issue(cluster_ca.authority, Identity(Kind.NODE, "node1"), days=1, not_before=start)
    (root / "etc/cmcluster/tls/node.crt").write_bytes(ca._cert_pem(old.certificate))
    (root / "etc/cmcluster/tls/node.key").write_bytes(ca._key_pem(old.key))
    (root / "etc/cmcluster/tls/node.key").chmod(0o600)
    result = run(["cmcld", "--no-syslog"], command_env(root, "node1"))
    assert result.status == 1
    assert "node certificate expired on" in result.err


@pytest.mark.parametrize("program", ["cmcld", "cmqsd"])
def test_a_key_readable_by_others_stops_the_daemon(
    cluster_ca: ClusterCA, tmp_path: Path, program: str
) -> None:
    from cluster.security import ca
    from cluster.security.bundle import install_node_bundle

    root = tmp_path / "host1"
    kind = Kind.NODE if program == "cmcld" else Kind.QUORUM_SERVER
    issued = ca.issue(cluster_ca.authority, Identity(kind, "host1"), days=30)
    bundle = tmp_path / "host1.pem"
    ca.write_private(bundle, ca.bundle_bytes(issued, cluster_ca.authority), force=True)
    paths = HostPaths(root)
    install_node_bundle(paths, bundle, "host1", force=True)
    key = paths.node_key
    key.chmod(0o644)
    argv = [program, "--listen", "127.0.0.1:0", "--no-syslog"]
    if program == "cmqsd":
        argv += ["--name", "host1"]
    result = run(argv, command_env(root, "host1"))
    assert result.status == 1
    assert result.err.strip() == (
        f"{program}: {key}: private key open to group or others (mode 0644): run "
        f"`chmod 600 {key}; chown root {key}` and start {program} again"
    )
    assert not paths.cmcld_pid.exists() and not (paths.run_dir / "cmqsd.pid").exists()
    key.chmod(0o600)
    os.chown(key, 1, -1)  # another user's key could be replaced by them
    result = run(argv, command_env(root, "host1"))
    assert result.status == 1
    assert f"private key owned by {pwd.getpwuid(1).pw_name}, not root who runs" in result.err


def test_a_corrupt_cmclconfig_stops_cmcld_and_says_how_to_recover(
    cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    """Starting unconfigured would put the node silently outside its cluster."""
    root = tmp_path / "node1"
    paths = cluster_ca.install_node(root, "node1")
    paths.cmclconfig.write_bytes(b"\x08\x07\x12\x20 cut short")
    result = run(["cmcld", "--listen", "127.0.0.1:0", "--no-syslog"], command_env(root, "node1"))
    assert result.status == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err
    assert lines[0].startswith(f"cmcld: {paths.cmclconfig}: unusable binary configuration (")
    assert "Copy it from a running member" in lines[0]
    assert not paths.admin_socket.exists() and not paths.cmcld_pid.exists()


def test_bad_listen_address(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    root = tmp_path / "node1"
    cluster_ca.install_node(root, "node1")
    result = run(["cmcld", "--listen", "nonsense"], command_env(root, "node1"))
    assert result.status == 1
    assert result.err.strip() == (
        "cmcld: --listen 'nonsense': expected HOST:PORT, e.g. 0.0.0.0:5302"
    )


def test_ready_is_reported_after_listening(daemon: Daemon) -> None:
    # start_daemon returned on READY=1: the port must accept connections right away.
    with socket.create_connection((daemon.host, daemon.port), timeout=2):
        pass
    assert f"mutual TLS on 127.0.0.1:{daemon.port}" in daemon.log()


@pytest.mark.parametrize("bad", ["-n", "bad_name!"])
def test_query_refuses_bad_node_names(daemon: Daemon, bad: str) -> None:
    argv = ["cmquerycl", "-n"] if bad == "-n" else ["cmquerycl", "-n", bad]
    result = run(argv, command_env(daemon.root, "node1"))
    assert result.status == 2
    assert len(result.err.strip().splitlines()) == 1


def test_query_reaches_a_peer_through_its_node_certificate(
    cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    """node1 on 127.0.0.2 asks the node named "localhost" (127.0.0.1) on the same port,
    found through the resolver, authenticated by node certificates."""
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    cluster_ca.install_node(root_a, "node1")
    cluster_ca.install_node(root_b, "localhost")
    a = start_daemon(root_a, "node1", host="127.0.0.2")
    try:
        b = start_daemon(root_b, "localhost", host="127.0.0.1", port=a.port)
        try:
            result = run(
                ["cmquerycl", "-n", "node1", "-n", "localhost", "-v"], command_env(root_a, "node1")
            )
            assert result.status == 0, result
            assert result.out.splitlines()[:2] == [
                "Node Names:    node1",
                "               localhost",
            ]
            assert "Node localhost (cmcluster" in result.out
        finally:
            b.stop()
        result = run(["cmquerycl", "-n", "node1", "-n", "localhost"], command_env(root_a, "node1"))
        assert result.status == 1
        assert result.out.startswith("Node Names:    node1")
        assert result.err.strip() == (
            f"cmquerycl: cannot query node localhost: nothing listens at localhost:{a.port} "
            "(connection refused): is cmcld running there?"
        )
    finally:
        a.stop()


def test_query_detects_a_peer_with_the_wrong_name(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    cluster_ca.install_node(root_a, "node1")
    cluster_ca.install_node(root_b, "node7")
    a = start_daemon(root_a, "node1", host="127.0.0.2")
    b = start_daemon(root_b, "node7", host="127.0.0.1", port=a.port)
    try:
        result = run(["cmquerycl", "-n", "localhost"], command_env(root_a, "node1"))
        assert result.status == 1
        assert f"127.0.0.1:{a.port} is node node7, not localhost" in result.err or (
            f"localhost:{a.port} is node node7, not localhost" in result.err
        )
    finally:
        b.stop()
        a.stop()
