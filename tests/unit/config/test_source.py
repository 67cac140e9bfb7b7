"""Reading the operator's files, and carrying them to cmcld in a request."""

import os
from pathlib import Path

import pytest

from cluster.config.problems import ConfigError
from cluster.config.source import (
    PackageSource,
    Source,
    cluster_from_pb,
    package_from_pb,
    read_source,
    to_pb,
)
from cluster.hostfiles import MAX_CONFIG_FILE


def test_text_is_utf8_and_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "cluster.ascii"
    path.write_bytes(b"\xef\xbb\xbfCLUSTER_NAME c1\n")
    assert read_source(path).text == "CLUSTER_NAME c1\n"
    path.write_bytes(b"CLUSTER_NAME c1\nNODE_NAME \xff\n")
    with pytest.raises(ConfigError, match=r"cluster.ascii:2: not UTF-8 text \(byte 26\)"):
        read_source(path)
    with pytest.raises(ConfigError, match=r"none\.ascii: cannot read: No such file"):
        read_source(tmp_path / "none.ascii")


def test_sources_travel_in_config_source_messages() -> None:
    legacy = PackageSource(
        "p.conf", "PACKAGE_NAME p\n", Source("/x/p.cntl", "VG[0]=vg\n"), "/x/p.cntl"
    )
    assert package_from_pb(to_pb(legacy)) == legacy
    modular = PackageSource("q.conf", "package_name q\n")
    assert package_from_pb(to_pb(modular)) == modular
    cluster = Source("c.ascii", "CLUSTER_NAME c\n")
    assert cluster_from_pb(to_pb(cluster)) == cluster
    assert cluster_from_pb(to_pb(Source("", ""))) is None


def test_only_regular_files_of_sane_size_are_read(tmp_path: Path) -> None:
    """`cmcheckconf -P /dev/zero` read until memory ran out; a FIFO would block."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.conf"
    with big.open("wb") as f:
        f.truncate(MAX_CONFIG_FILE + 1)  # sparse: costs no disk
    for path, reason in [
        ("/dev/zero", "not a regular file (a character device)"),
        (str(tmp_path), "not a regular file (a directory)"),
        (str(fifo), "not a regular file (a FIFO)"),
        (str(big), "16.0 MiB: larger than the 16 MiB allowed"),
    ]:
        with pytest.raises(ConfigError) as caught:
            read_source(path)
        assert str(caught.value) == f"{path}: {reason}"
    with big.open("r+b") as f:
        f.truncate(MAX_CONFIG_FILE)
    assert len(read_source(big).text) == MAX_CONFIG_FILE


def test_cmcheckconf_of_dev_zero_ends_at_once(tmp_path: Path) -> None:
    from tests.support import command_env, run

    result = run(["cmcheckconf", "-P", "/dev/zero"], command_env(tmp_path, "n1"), timeout=30)
    assert result.status == 2
    assert result.err == "cmcheckconf: /dev/zero: not a regular file (a character device)\n"
