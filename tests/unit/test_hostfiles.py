"""Bounded reads of regular files; cmcluster's own files made private."""

import os
from pathlib import Path

import pytest

from cluster.hostfiles import RefusedFile, make_private, make_private_tree, read_regular


def test_a_file_growing_past_the_limit_while_read_is_refused() -> None:
    # /proc files say they are empty and then give more than that.
    with pytest.raises(RefusedFile, match="more than 0 MiB: larger than the 0 MiB allowed"):
        read_regular("/proc/self/status", 100)
    assert read_regular("/proc/self/status", 1 << 20).startswith(b"Name:")


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "none", 10)


def test_make_private_reports_what_it_changed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    loose, tight = state / "loose", state / "tight"
    loose.write_bytes(b"x")
    loose.chmod(0o644)
    tight.write_bytes(b"x")
    tight.chmod(0o600)
    target = tmp_path / "target"
    target.write_bytes(b"x")
    target.chmod(0o644)
    (state / "link").symlink_to(target)
    assert make_private_tree(state) == [(state, 0o755), (loose, 0o644)]
    assert loose.stat().st_mode & 0o777 == 0o600
    assert state.stat().st_mode & 0o777 == 0o700
    assert make_private(loose) is None and make_private(tmp_path / "none") is None
    assert target.stat().st_mode & 0o777 == 0o644  # a link's target is not touched
