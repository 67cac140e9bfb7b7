"""The built one-file zipapp, used as an operator would: install, run cmcld, run cm*."""

import os
from pathlib import Path

import pytest

from cluster.cli.main import COMMANDS
from cluster.security.identity import Role
from tests.support import ZIPAPP, ClusterCA, command_env, run, start_daemon

pytestmark = pytest.mark.zipapp


@pytest.fixture(scope="module")
def zipapp() -> Path:
    if not ZIPAPP.exists():
        pytest.fail(f"{ZIPAPP} is missing: run `make zipapp` (make test does)")
    return ZIPAPP


def test_version_and_help(zipapp: Path) -> None:
    version = run(["--version"], {}, command=[str(zipapp)])
    assert version.status == 0 and version.out.startswith("cmcluster ")
    helptext = run(["help"], {}, command=[str(zipapp)])
    assert all(f"  {name} " in helptext.out for name in COMMANDS)


def test_install_creates_every_link(zipapp: Path, tmp_path: Path) -> None:
    result = run(["install", "--prefix", str(tmp_path)], dict(os.environ), command=[str(zipapp)])
    assert result.status == 0, result
    binary = tmp_path / "bin" / "cmcluster"
    assert binary.read_bytes() == zipapp.read_bytes()
    assert os.access(binary, os.X_OK)
    for name in COMMANDS:
        link = tmp_path / "bin" / name
        assert link.is_symlink() and os.readlink(link) == "cmcluster"
    by_link = run([], dict(os.environ), command=[str(tmp_path / "bin" / "cmversion")])
    by_arg = run(["cmversion"], dict(os.environ), command=[str(zipapp)])
    assert by_link.status == 0 and by_link.out == by_arg.out
    # Installing again (an upgrade) replaces in place.
    again = run(["install", "--prefix", str(tmp_path)], dict(os.environ), command=[str(binary)])
    assert again.status == 0, again


def test_install_from_source_tree_is_refused(tmp_path: Path) -> None:
    result = run(["install", "--prefix", str(tmp_path)], dict(os.environ))
    assert result.status == 2
    assert "install works from the built zipapp" in result.err


def test_zipapp_daemon_answers_zipapp_commands(
    zipapp: Path, cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    run(["install", "--prefix", str(tmp_path / "usr")], dict(os.environ), command=[str(zipapp)])
    bindir = tmp_path / "usr" / "bin"
    root = tmp_path / "node1"
    cluster_ca.install_node(root, "node1")
    daemon = start_daemon(root, "node1", command=[str(bindir / "cmcluster")])
    try:
        as_root = run([], command_env(root, "node1"), command=[str(bindir / "cmquerycl")])
        assert as_root.status == 0, as_root
        assert as_root.out.startswith("Node Names:    node1")
        user = cluster_ca.bundle(tmp_path / "ops.pem", user="ops", role=Role.MONITOR)
        env = command_env(tmp_path / "ws", "ws", CMCLUSTER_CERT=str(user))
        remote = run(["--server", daemon.address], env, command=[str(bindir / "cmquerycl")])
        assert remote.status == 0, remote
        assert remote.out == as_root.out
        refused = run(
            ["debug", "--server", daemon.address], env, command=[str(bindir / "cmsetlog")]
        )
        assert refused.status == 3
        assert "has role monitor" in refused.err
    finally:
        assert daemon.stop() == 0
    assert "cmcld stopped" in daemon.log()
