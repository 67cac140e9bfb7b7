"""cmclconfig on disk: private, and never silently ignored when unusable."""

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.config.compile import blob_bytes, make_blob
from cluster.daemon import durable
from cluster.daemon.configstore import ConfigStore
from cluster.errors import CmError
from cluster.paths import HostPaths
from tests.unit.config.helpers import THREE_NODES, config


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def applied(paths: HostPaths) -> ConfigStore:
    store = ConfigStore(paths)
    store.load()
    store.adopt(make_blob(config(THREE_NODES), generation=3))
    return store


def test_cmclconfig_is_written_0600(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    old = os.umask(0)
    try:
        applied(paths)
    finally:
        os.umask(old)
    assert mode(paths.cmclconfig) == 0o600


def test_loose_files_are_made_private_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = HostPaths(tmp_path)
    applied(paths)
    paths.cmclconfig.chmod(0o644)
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    paths.state_dir.chmod(0o755)
    flags = paths.state_dir / "package_flags.pb"
    flags.write_bytes(b"")
    flags.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        store = ConfigStore(paths)
        store.load()
    assert store.generation == 3
    assert (mode(paths.cmclconfig), mode(paths.state_dir), mode(flags)) == (0o600, 0o700, 0o600)
    assert f"{paths.cmclconfig} was open to group or others (mode 0644): made private" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data[: len(data) // 2], "not a cmcluster binary configuration"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "the digest does not match"),
        (lambda data: b"", "the digest does not match"),
    ],
)
def test_an_unusable_cmclconfig_stops_the_start(
    tmp_path: Path, damage: Callable[[bytes], bytes], reason: str
) -> None:
    paths = HostPaths(tmp_path)
    applied(paths)
    paths.cmclconfig.write_bytes(damage(paths.cmclconfig.read_bytes()))
    with pytest.raises(CmError) as caught:
        ConfigStore(paths).load()
    message = str(caught.value)
    assert message.startswith(f"{paths.cmclconfig}: unusable binary configuration (")
    assert reason in message
    assert "Copy it from a running member" in message and "\n" not in message


def test_a_cmclconfig_that_is_not_a_file_stops_the_start(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    paths.cmclconfig.mkdir(parents=True)
    with pytest.raises(CmError, match=r"cmclconfig: unusable binary configuration \(not a"):
        ConfigStore(paths).load()


def test_no_cmclconfig_is_an_unconfigured_node(tmp_path: Path) -> None:
    store = ConfigStore(HostPaths(tmp_path))
    store.load()
    assert store.blob is None and store.config is None


def test_a_copy_from_a_member_is_taken_as_is(tmp_path: Path) -> None:
    member = applied(HostPaths(tmp_path / "a"))
    assert member.blob is not None
    paths = HostPaths(tmp_path / "b")
    paths.etc_dir.mkdir(parents=True)
    paths.cmclconfig.write_bytes(blob_bytes(member.blob))
    store = ConfigStore(paths)
    store.load()
    assert store.generation == 3 and store.config == member.config


def test_a_state_file_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "membership.json"
    os.mkfifo(state, 0o600)
    with pytest.raises(CmError, match=r"membership.json: not a regular file \(a FIFO\)"):
        durable.load(state)
