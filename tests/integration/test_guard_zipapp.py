"""The guard as cmcld starts it from an installed zipapp: through the real file behind
the `cmcld` link, not through the link (which would run cmcld again)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.guard import client
from cluster.guard.client import Guard
from cluster.paths import HostPaths
from cluster.resources import procs
from cluster.resources.stopnow import KillGroup, build_plan
from tests.support import ZIPAPP, run

pytestmark = pytest.mark.zipapp


def test_installed_zipapp_guard_fires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not ZIPAPP.exists():
        pytest.fail(f"{ZIPAPP} is missing: run `make zipapp` (make test does)")
    installed = run(["install", "--prefix", str(tmp_path)], dict(os.environ), command=[str(ZIPAPP)])
    assert installed.status == 0, installed
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "bin" / "cmcld")])
    command = client.default_command()
    assert command == [str(tmp_path / "bin" / "cmcluster")]

    victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
    paths = HostPaths(tmp_path / "root")
    guard = Guard.start(paths, node="n1", margin_ns=50_000_000, command=command)
    try:
        stat = procs.read_stat(victim.pid)
        assert stat is not None
        guard.publish_plan(build_plan("n1", [KillGroup("p", "v", victim.pid, stat.start_time)]))
        guard.renew(time.monotonic_ns() + 300_000_000)
        log = paths.log_dir / "cmguard.log"
        try:
            victim.wait(3)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the guard did not fire: {guard.status()}\n{log.read_text()}")
        assert victim.returncode == -signal.SIGKILL
        assert Guard.fired_record(paths) is not None
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        guard.close()
