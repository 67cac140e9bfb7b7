"""Daemon logging: the file always, syslog (facility daemon) where its socket exists."""

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.daemon import logs


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_records_reach_the_file_and_syslog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    address = tmp_path / "log.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    listener.settimeout(5)
    monkeypatch.setattr(logs, "SYSLOG_SOCKET", address)
    log_file = tmp_path / "var" / "log" / "cmcld.log"
    log = logs.setup_logging(
        program="cmcld", node="n1", log_file=log_file, level=logging.INFO, syslog=True
    )
    log.warning("lease lost")
    datagram = listener.recv(4096).decode()
    # <priority> = facility daemon (3) x 8 + warning (4)
    assert datagram.startswith(f"<28>cmcld[{os.getpid()}]: lease lost"), datagram
    assert f"WARNING n1 cmcld[{os.getpid()}]: lease lost" in log_file.read_text()
    listener.close()


@pytest.mark.usefixtures("restore_root_logger")
def test_no_syslog_socket_means_the_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "SYSLOG_SOCKET", tmp_path / "absent.sock")
    log_file = tmp_path / "cmcld.log"
    log = logs.setup_logging(
        program="cmcld", node="n1", log_file=log_file, level=logging.INFO, syslog=True
    )
    log.info("started")
    assert "started" in log_file.read_text()
    kinds = {type(h).__name__ for h in logging.getLogger().handlers}
    assert "SysLogHandler" not in kinds
