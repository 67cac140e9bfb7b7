"""cmmakepkg writes templates like Serviceguard's, and keeps existing files."""

from pathlib import Path

import pytest

from cluster.cli.main import dispatch


def test_writes_refuses_to_overwrite_and_replaces_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "pkg.conf"
    assert dispatch(["cmmakepkg", "-m", "sg/service", str(target)]) == 0
    text = target.read_text()
    assert "service_name" in text and "fs_name" not in text
    target.write_text("mine\n")
    assert dispatch(["cmmakepkg", str(target)]) == 2
    assert "pkg.conf exists: use -f to replace it" in capsys.readouterr().err
    assert target.read_text() == "mine\n"
    assert dispatch(["cmmakepkg", "-f", str(target)]) == 0
    assert "fs_name" in target.read_text()


def test_stdout_list_and_bad_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["cmmakepkg", "-m", "sg/multi_node"]) == 0
    assert "package_type                    multi_node" in capsys.readouterr().out
    assert dispatch(["cmmakepkg", "-l"]) == 0
    assert "sg/package_ip" in capsys.readouterr().out
    assert dispatch(["cmmakepkg", "-m", "sg/cfs"]) == 2
    assert "unknown module 'sg/cfs'" in capsys.readouterr().err
