"""Small daemon parts: gRPC core log reading, sd_notify, the pid lock, atomic files."""

import os
import socket
import stat
from pathlib import Path

import pytest

from cluster.atomicfile import write_atomic
from cluster.daemon.grpclog import describe_handshake_failure
from cluster.daemon.notify import sd_notify
from cluster.daemon.pidlock import PidLock
from cluster.errors import CmError

CORE = "I1125 10:39:55.996838    2043 ssl_transport_security.cc:2563] Handshake failed with error "


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (
            CORE + "SSL_ERROR_SSL: error:1000007d:...:VERIFY_FAILED: certificate has expired",
            "the client's certificate has expired",
        ),
        (
            CORE + "SSL_ERROR_SSL: error:1000007d:...: unable to get local issuer certificate",
            "not from this cluster's CA",
        ),
        (
            CORE + "SSL_ERROR_SSL: error:100000f7:...:WRONG_VERSION_NUMBER: Invalid certificate",
            "not TLS (a plaintext client?)",
        ),
        (
            CORE + "SSL_ERROR_SSL: error:100000c0:...:PEER_DID_NOT_RETURN_A_CERTIFICATE: x",
            "the client sent no certificate",
        ),
    ],
)
def test_handshake_failures_are_explained(line: str, words: str) -> None:
    reason = describe_handshake_failure(line)
    assert reason is not None and words in reason


def test_other_core_lines_are_not_handshakes() -> None:
    assert describe_handshake_failure("E1125 12:00:00 chttp2_server.cc] accept failed") is None


def test_sd_notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert sd_notify("READY=1", "STATUS=up")
        assert listener.recv(100) == b"READY=1\nSTATUS=up"
    path.unlink()
    assert not sd_notify("STOPPING=1")  # manager gone: no exception
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not sd_notify("READY=1")


def test_pid_lock_refuses_second_holder(tmp_path: Path) -> None:
    first = PidLock(tmp_path / "run" / "x.pid")
    first.acquire("x")
    assert (tmp_path / "run" / "x.pid").read_text() == f"{os.getpid()} x\n"
    with pytest.raises(CmError, match=f"x is running already \\(pid {os.getpid()}"):
        PidLock(tmp_path / "run" / "x.pid").acquire("x")
    # The refusal names the holder, not the one refused (cmtakeover holds cmcld's lock).
    with pytest.raises(CmError, match=f"^x is running already \\(pid {os.getpid()}"):
        PidLock(tmp_path / "run" / "x.pid").acquire("y")
    first.release()
    second = PidLock(tmp_path / "run" / "x.pid")
    second.acquire("x")
    second.release()


def test_write_atomic_replaces_with_exact_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    old_umask = os.umask(0o022)
    try:
        write_atomic(target, b"new", 0o600)
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_cmviewcl_warns_of_a_stop_now_that_overran_the_margin(tmp_path: Path) -> None:
    """cmcld's warnings (cmviewcl -v) carry the guard's measured stop-now times: a
    package whose stop-now here took longer than STOP_MARGIN is named with the figures."""
    import json
    import types

    from cluster.core.timing import MS, Timing
    from cluster.daemon.main import _warnings
    from cluster.paths import HostPaths
    from cluster.resources import stoptimes

    paths = HostPaths(tmp_path)
    path = stoptimes.times_path(paths)
    path.parent.mkdir(parents=True)
    slow = {"last_ms": 350.0, "worst_ms": 350.0, "by": "guard", "when": 0, "clean": True}
    quick = {"last_ms": 12.0, "worst_ms": 12.0, "by": "guard", "when": 0, "clean": True}
    doc = {"version": stoptimes.TIMES_VERSION, "packages": {"db": slow, "web": quick}}
    path.write_text(json.dumps(doc))
    membership = types.SimpleNamespace(timing=Timing.for_member_timeout(1000 * MS))
    warnings = _warnings(lambda: ["cert"], paths, "n1", membership)()  # type: ignore[arg-type]
    assert warnings[0] == "cert" and len(warnings) == 2
    assert "package db on n1 took up to 350 ms, more than STOP_MARGIN 200 ms" in warnings[1]
