"""The built one-file zipapp, used as an operator would: install, run cmcld, run cm*."""

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.cli.main import COMMANDS
from cluster.security.identity import Role
from tests.support import REPO, ZIPAPP, ClusterCA, command_env, run, start_daemon

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
    alerts = tmp_path / "share" / "cmcluster" / "alerts"
    for script in (REPO / "packaging" / "alerts").iterdir():
        installed = alerts / script.name
        assert installed.read_bytes() == script.read_bytes() and os.access(installed, os.X_OK)
    (alerts / "syslog.sh").write_text("#!/bin/sh\n# edited by the operator\n")
    # Installing again (an upgrade) replaces in place, but keeps an edited example.
    again = run(["install", "--prefix", str(tmp_path)], dict(os.environ), command=[str(binary)])
    assert again.status == 0, again
    assert "edited by the operator" in (alerts / "syslog.sh").read_text()


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


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory every user may traverse and write (like /tmp), removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="cmzipapp-", dir="/tmp"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def as_nobody(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run as uid nobody, with no HOME it could write."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as another user")
    base = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "-i"]
    command += [f"{k}={v}" for k, v in {**base, **env}.items()]
    return subprocess.run(
        [*command, *argv], check=False, capture_output=True, text=True, timeout=120
    )


def test_a_user_without_a_writable_home_can_run_commands(zipapp: Path, shared_tmp: Path) -> None:
    """shiv unpacks into ~/.shiv, and failed with a traceback where HOME is not writable:
    the zipapp's __main__ then unpacks into a private directory of that user."""
    app = shared_tmp / "cmcluster.pyz"
    shutil.copy(zipapp, app)
    result = as_nobody([str(app), "cmversion"], TMPDIR=str(shared_tmp))
    assert (result.returncode, result.stderr) == (0, ""), result
    assert result.stdout.strip() == run(["--version"], {}, command=[str(zipapp)]).out.split()[1]
    private = shared_tmp / f"cmcluster-{pwd.getpwnam('nobody').pw_uid}"
    info = private.lstat()
    assert stat.S_ISDIR(info.st_mode) and info.st_mode & 0o777 == 0o700
    assert info.st_uid == pwd.getpwnam("nobody").pw_uid
    assert any(private.glob("cmcluster.pyz_*/site-packages"))
    # A private runtime directory (XDG_RUNTIME_DIR) comes before /tmp.
    runtime = shared_tmp / "run-user"
    runtime.mkdir(mode=0o700)
    os.chown(runtime, pwd.getpwnam("nobody").pw_uid, -1)
    result = as_nobody([str(app), "cmversion"], XDG_RUNTIME_DIR=str(runtime))
    assert result.returncode == 0, result
    assert any(runtime.glob("cmcluster/cmcluster.pyz_*/site-packages"))


def test_a_directory_prepared_by_another_user_is_refused(zipapp: Path, shared_tmp: Path) -> None:
    """Code unpacked where someone else can write would run as this user: one line."""
    app = shared_tmp / "cmcluster.pyz"
    shutil.copy(zipapp, app)
    trap = shared_tmp / f"cmcluster-{pwd.getpwnam('nobody').pw_uid}"
    trap.mkdir(mode=0o777)
    trap.chmod(0o777)
    result = as_nobody([str(app), "cmversion"], TMPDIR=str(shared_tmp))
    assert result.returncode == 1
    assert result.stderr == (
        "cmcluster.pyz: cannot unpack: /nonexistent/.shiv cannot be written "
        f"(HOME=/nonexistent) and {trap} is not a private directory of this user; set "
        "SHIV_ROOT to a directory you own, or have root run `cmcluster.pyz install --prefix "
        "DIR`, which unpacks it for every user\n"
    )
    assert not any(trap.iterdir())


def test_install_unpacks_once_for_every_user(zipapp: Path, shared_tmp: Path) -> None:
    prefix = shared_tmp / "usr"
    installed = run(["install", "--prefix", str(prefix)], dict(os.environ), command=[str(zipapp)])
    assert installed.status == 0, installed
    unpacked = prefix / "lib" / "cmcluster"
    assert unpacked.stat().st_mode & 0o777 == 0o755
    assert [p.name.split("_")[0] for p in unpacked.glob("cmcluster_*")] == ["cmcluster"]
    # No HOME and no TMPDIR it could write: the installed copy is all it needs.
    result = as_nobody([str(prefix / "bin" / "cmversion")], TMPDIR="/nonexistent")
    assert (result.returncode, result.stderr) == (0, ""), result
