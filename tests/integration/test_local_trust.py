"""The trust boundary of one real cmcld, on one host: who may use its admin socket,
and replacing its certificate without a restart."""

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from cluster.security.identity import Role
from tests.support import ClusterCA, Daemon, command_env, run, start_daemon

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

# A client that calls cmcld over the admin socket as whoever runs it, printing the
# status of each call: ViewCluster (monitor) then SetLogLevel (full_admin).
CLIENT = """
import sys, grpc
from cluster.pb.v1 import node_pb2, services_pb2_grpc, view_pb2
with grpc.secure_channel("unix:" + sys.argv[1],
        grpc.local_channel_credentials(grpc.LocalConnectionType.UDS)) as channel:
    stub = services_pb2_grpc.AdminStub(channel)
    for call, request in (("ViewCluster", view_pb2.ViewClusterRequest()),
                          ("SetLogLevel", node_pb2.SetLogLevelRequest())):
        try:
            getattr(stub, call)(request, timeout=10)
            print(call, "OK")
        except grpc.RpcError as err:
            print(call, err.code().name, err.details())
"""


@contextlib.contextmanager
def traversable(path: Path) -> Iterator[None]:
    """Let other users reach `path` (pytest's directories are root's own), undone after."""
    changed: list[tuple[Path, int]] = []
    try:
        for directory in [path, *path.parents]:
            mode = directory.stat().st_mode & 0o7777
            if mode & 0o001 == 0:
                changed.append((directory, mode))
                directory.chmod(mode | 0o001)
        yield
    finally:
        for directory, mode in changed:
            directory.chmod(mode)


def as_other_user(daemon: Daemon, groups: str = "--clear-groups") -> list[str]:
    argv = [*NOBODY[:-1], groups, sys.executable, "-c", CLIENT, str(daemon.paths.admin_socket)]
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


needs_setpriv = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv"
)


@needs_setpriv
def test_a_non_root_uid_is_refused_even_with_the_socket_open_to_all(daemon: Daemon) -> None:
    """SO_PEERCRED decides, not the file modes: loosened to 0777/0666 by mistake, the
    socket still refuses uid 65534 (it got full_admin before)."""
    daemon.paths.run_dir.chmod(0o777)
    daemon.paths.admin_socket.chmod(0o666)
    with traversable(daemon.paths.run_dir):
        lines = as_other_user(daemon)
    assert [line.split()[:2] for line in lines] == [
        ["ViewCluster", "UNAVAILABLE"],
        ["SetLogLevel", "UNAVAILABLE"],
    ]
    log = daemon.wait_for_log("refused a connection to the admin socket from uid 65534")
    assert "only root may use it" in log
    assert run(["cmsetlog"], command_env(daemon.root, "node1")).status == 0  # root still can


@needs_setpriv
def test_the_admin_group_gets_what_the_policies_grant(
    tmp_path: Path, cluster_ca: ClusterCA
) -> None:
    """A member of --admin-group is a local user: with no policy configured, monitor."""
    root = tmp_path / "node1"
    cluster_ca.install_node(root, "node1")
    daemon = start_daemon(root, "node1", extra_args=["--admin-group", "nogroup"])
    try:
        with traversable(daemon.paths.run_dir):
            lines = as_other_user(daemon, groups="--groups=65534")
        assert lines[0] == "ViewCluster OK"
        assert lines[1].startswith(
            "SetLogLevel PERMISSION_DENIED local user nobody has role monitor; "
            "Admin/SetLogLevel needs full_admin"
        )
        assert daemon.paths.run_dir.stat().st_mode & 0o777 == 0o750
    finally:
        daemon.stop()


def _served_serial(daemon: Daemon, bundle: Path) -> int:
    """The serial of the certificate cmcld presents to a new connection."""
    context = ssl.create_default_context(cafile=str(bundle))
    context.check_hostname = False
    context.load_cert_chain(str(bundle))
    with (
        contextlib.closing(socket.create_connection((daemon.host, daemon.port), timeout=10)) as raw,
        context.wrap_socket(raw, server_hostname="node1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_a_new_certificate_is_used_without_a_restart(
    daemon: Daemon, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    """cmcert install --force tells the running cmcld (SIGHUP): new connections get the
    new certificate, the process and its connections stay."""
    user = cluster_ca.bundle(tmp_path / "mon.pem", user="mon", role=Role.MONITOR)
    before = _served_serial(daemon, user)
    fresh = cluster_ca.bundle(tmp_path / "node1-new.pem", node="node1")
    env = command_env(daemon.root, "node1")
    result = run(["cmcert", "install", "--force", str(fresh)], env)
    assert result.status == 0, result
    assert f"told cmcld (pid {daemon.process.pid}) to use them" in result.out
    daemon.wait_for_log("new certificate in use from now on")
    after = _served_serial(daemon, user)
    assert after != before
    assert after == x509.load_pem_x509_certificate(fresh.read_bytes()).serial_number
    assert daemon.process.poll() is None
    # A broken replacement is refused; the good one stays in use.
    daemon.paths.node_key.write_bytes(b"not a key")
    daemon.paths.node_key.chmod(0o600)
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_log("certificate NOT reloaded, still using the previous one")
    assert _served_serial(daemon, user) == after
