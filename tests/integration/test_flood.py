"""A flood of unauthenticated TCP connections against a real cmcld started with
Debian's default open-files limit (1024): root's commands keep working, and the
connections that never complete a handshake are closed."""

import contextlib
import resource
import socket
import time
from pathlib import Path

import pytest

from cluster.transport.options import HANDSHAKE_TIMEOUT_MS
from tests.support import ClusterCA, command_env, run, start_daemon

FLOOD = 2000


@pytest.mark.slow
def test_two_thousand_idle_connections_leave_root_commands_working(
    tmp_path: Path, cluster_ca: ClusterCA
) -> None:
    root = tmp_path / "node1"
    cluster_ca.install_node(root, "node1")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    daemon = start_daemon(root, "node1", wrap=["prlimit", f"--nofile=1024:{hard}", "--"])
    flood: list[socket.socket] = []
    try:
        for _ in range(FLOOD):
            flood.append(socket.create_connection((daemon.host, daemon.port), timeout=10))
        started = time.monotonic()
        result = run(["cmquerycl", "-v"], command_env(root, "node1"), timeout=60)
        took = time.monotonic() - started
        assert result.status == 0, result
        assert took < 20, f"cmquerycl took {took:.1f} s under the flood"
        assert daemon.process.poll() is None
        # The server closes connections that never handshake.
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_MS / 1000 + 30
        probe = flood[0]
        probe.settimeout(1)
        closed = False
        while not closed and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                closed = probe.recv(1) == b""
        assert closed, "an idle unauthenticated connection was kept open"
        assert "Too many open files" not in daemon.log()
    finally:
        for conn in flood:
            conn.close()
        daemon.stop()
