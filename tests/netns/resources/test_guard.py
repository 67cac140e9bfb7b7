"""The guard process: arming, renewals, firing, disarming, signals, the watchdog, and
stop-now of a whole package on a lab host while the "cmcld" renewing its lease stops
renewing or is frozen with SIGSTOP."""

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.guard import protocol
from cluster.guard.client import Guard, GuardError, GuardFired
from cluster.paths import HostPaths
from cluster.resources import procs
from cluster.resources.stopnow import KillGroup, build_plan
from tests.netns.lab import Lab
from tests.netns.resources.conftest import (
    Loops,
    has_address,
    host_env,
    mounted,
    wait_for,
)

COMMAND = [sys.executable, "-m", "cluster"]
MS = 1_000_000


@pytest.fixture
def paths(tmp_path: Path) -> HostPaths:
    return HostPaths(tmp_path / "root")


@pytest.fixture
def guards() -> Iterator[list[Guard]]:
    """Guards a test started: closed, or killed by PID, whatever happened."""
    started: list[Guard] = []
    yield started
    for guard in started:
        with contextlib.suppress(GuardError):
            guard.close(timeout=2)
        if guard.alive():
            os.kill(guard.pid, signal.SIGKILL)
            if guard.process is not None:
                guard.process.wait(5)


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process group the plan may kill (the test's own process: it kills only it)."""
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(5)


def kill_plan(process: subprocess.Popen[bytes]) -> KillGroup:
    stat_ = procs.read_stat(process.pid)
    assert stat_ is not None
    return KillGroup("pkg1", "service victim", process.pid, stat_.start_time)


def start(paths: HostPaths, guards: list[Guard], margin_ms: int = 100, **kw: object) -> Guard:
    guard = Guard.start(paths, node="a", margin_ns=margin_ms * MS, command=COMMAND, **kw)  # type: ignore[arg-type]
    guards.append(guard)
    return guard


def test_starts_idle_with_raised_priority_and_exits_cleanly(
    paths: HostPaths, guards: list[Guard]
) -> None:
    guard = start(paths, guards)
    status = guard.status()
    assert status.alive and status.state == protocol.IDLE
    assert status.priority["sched_fifo"] == "20" and status.priority["mlockall"] == "yes"
    # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which some sandboxes withhold.
    assert status.priority["oom_score_adj"] in ("-1000", "refused: Permission denied")
    assert os.sched_getscheduler(guard.pid) == os.SCHED_FIFO
    assert stat.S_ISFIFO((paths.run_dir / "guard.fifo").stat().st_mode)
    with pytest.raises(GuardError, match="a guard is already running"):
        Guard.start(paths, node="a", margin_ns=MS, command=COMMAND)
    attached = Guard.attach(paths)
    assert attached.pid == guard.pid
    guard.close()
    assert not guard.alive()
    assert guard.status().state == protocol.EXITED
    assert Guard.fired_record(paths) is None


def test_fires_before_the_deadline_when_renewals_stop(
    paths: HostPaths, guards: list[Guard], victim: subprocess.Popen[bytes]
) -> None:
    guard = start(paths, guards, margin_ms=150)
    guard.publish_plan(build_plan("a", [kill_plan(victim)]))
    for _ in range(5):  # renewals keep it armed
        guard.renew(time.monotonic_ns() + 300 * MS)
        time.sleep(0.1)
    assert guard.status().state == protocol.ARMED and victim.poll() is None
    assert guard.listening()
    deadline = time.monotonic_ns() + 300 * MS
    guard.renew(deadline)
    assert victim.wait(2) == -signal.SIGKILL
    killed_at = time.monotonic_ns()
    assert killed_at < deadline
    assert not guard.listening()  # it stopped listening before it killed
    wait_for(lambda: guard.status().state == protocol.FIRED, 2, "the fired state")
    record = Guard.fired_record(paths)
    assert record is not None and record["deadline_ns"] == deadline
    assert record["late_ns"] < 0 and record["report"]["clean"]
    assert deadline - record["fired_ns"] >= 150 * MS - 5 * MS  # started at the margin
    with pytest.raises(GuardFired):
        guard.renew(time.monotonic_ns() + 300 * MS)
    log = (paths.log_dir / "cmguard.log").read_text()
    assert "lease deadline passed without renewal: stop-now of 1 action(s)" in log
    assert "pkg1: service victim: ok" in log
    guard.close()  # a fired guard exits on SIGTERM
    assert Guard.fired_record(paths) is not None  # until an operator clears it
    assert Guard.clear_fired(paths) and Guard.fired_record(paths) is None


def test_disarm_stands_down(
    paths: HostPaths, guards: list[Guard], victim: subprocess.Popen[bytes]
) -> None:
    guard = start(paths, guards)
    guard.publish_plan(build_plan("a", [kill_plan(victim)]))
    guard.renew(time.monotonic_ns() + 300 * MS)
    guard.disarm()
    time.sleep(0.6)
    assert victim.poll() is None
    assert guard.status().state == protocol.IDLE
    guard.renew(time.monotonic_ns() + 200 * MS)  # a new lease arms it again
    assert victim.wait(2) == -signal.SIGKILL


def test_sigterm_is_ignored_while_armed(paths: HostPaths, guards: list[Guard]) -> None:
    guard = start(paths, guards)
    guard.renew(time.monotonic_ns() + 10_000 * MS)
    os.kill(guard.pid, signal.SIGTERM)
    time.sleep(0.3)
    assert guard.alive() and guard.status().state == protocol.ARMED
    guard.disarm()
    wait_for(lambda: guard.status().state == protocol.IDLE, 2, "idle")
    os.kill(guard.pid, signal.SIGTERM)
    wait_for(lambda: not guard.alive(), 2, "the guard to exit")
    log = (paths.log_dir / "cmguard.log").read_text()
    assert "ignoring SIGTERM while armed" in log


def test_plan_published_later_is_the_one_executed(
    paths: HostPaths, guards: list[Guard], victim: subprocess.Popen[bytes]
) -> None:
    guard = start(paths, guards)
    guard.renew(time.monotonic_ns() + 10_000 * MS)
    assert guard.status().plan_actions == 0
    guard.publish_plan(build_plan("a", [kill_plan(victim)]))
    wait_for(lambda: guard.status().plan_actions == 1, 2, "the plan reload")
    guard.renew(time.monotonic_ns())  # a deadline already past: fire at once
    assert victim.wait(2) == -signal.SIGKILL


def open_watchdog(tmp_path: Path) -> tuple[Path, int]:
    fifo = tmp_path / "watchdog"
    os.mkfifo(fifo)
    return fifo, os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)


def read_all(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def test_watchdog_fed_until_firing(paths: HostPaths, guards: list[Guard], tmp_path: Path) -> None:
    fifo, reader = open_watchdog(tmp_path)
    try:
        guard = start(paths, guards, watchdog=str(fifo), watchdog_interval=0.05)
        time.sleep(0.5)
        fed = read_all(reader)
        assert 5 <= len(fed) <= 15 and set(fed) == {ord("k")}, fed
        guard.renew(time.monotonic_ns() + 200 * MS)
        wait_for(lambda: guard.status().state == protocol.FIRED, 2, "firing")
        read_all(reader)
        time.sleep(0.4)
        assert read_all(reader) == b""  # no more feeding: the host would reset
        assert guard.status().watchdog == {
            "device": str(fifo),
            "interval": 0.05,
            "timeout_set": False,
            "timeout": None,  # a FIFO takes no WDIOC_* ioctl
            "limit_ms": 0.0,
            "protects_frozen_host": False,
            "problem": "no limit from cmcld yet",
            "feeding": False,
        }
        guard.close()
        assert read_all(reader) == b""  # and no magic close either
    finally:
        os.close(reader)


def test_watchdog_magic_close_on_clean_exit(
    paths: HostPaths, guards: list[Guard], tmp_path: Path
) -> None:
    fifo, reader = open_watchdog(tmp_path)
    try:
        guard = start(paths, guards, watchdog=str(fifo), watchdog_interval=0.05)
        time.sleep(0.2)
        guard.close()
        assert read_all(reader).endswith(b"V")
    finally:
        os.close(reader)


def test_missing_watchdog_device_fails_the_start(paths: HostPaths, tmp_path: Path) -> None:
    with pytest.raises(GuardError, match=r"cannot open watchdog .*No such file or directory"):
        Guard.start(
            paths, node="a", margin_ns=MS, command=COMMAND, watchdog=str(tmp_path / "nodog")
        )


# -- a whole package on a lab host ---------------------------------------------------------


@pytest.mark.parametrize("how", ["stop-renewing", "sigstop"])
def test_stop_now_of_a_package_when_cmcld_stops_renewing(
    how: str, tmp_path: Path, loops: Loops
) -> None:
    device = loops.attach(loops.image("pkg", 32, ["mkfs.ext4", "-q", "-F"]))
    mnt, root = tmp_path / "mnt", tmp_path / "root"
    mnt.mkdir()
    fifo, reader = open_watchdog(tmp_path)
    args = {
        "root": str(root),
        "node": "a",
        "vip": "198.18.0.100",
        "device": device,
        "mount_point": str(mnt),
        "service_cmd": f"cd {mnt} && sleep 300 & exec sleep 300",
        "lease_ms": 1000,
        "margin_ms": 200,
        "renew_ms": 100,
        "stop_file": str(tmp_path / "stop"),
        "watchdog": str(fifo),
    }
    out = tmp_path / "cmcld.out"
    ready: dict[str, int] = {}
    try:
        with Lab() as lab:
            lab.build(["a"], client=False)
            command = [sys.executable, "-m", "tests.netns.resources.fake_cmcld", json.dumps(args)]
            cmcld = lab.start("a", command, host_env(), out)
            wait_for(lambda: '"ready"' in out.read_text(), 20, f"cmcld ready: {out}")
            ready = json.loads(next(x for x in out.read_text().splitlines() if '"ready"' in x))
            assert ready["plan"] == 3
            user = lab.start(
                "a", ["sh", "-c", f"cd {mnt} && exec sleep 300"], {}, tmp_path / "user.log"
            )
            wait_for(lambda: os.readlink(f"/proc/{user.pid}/cwd") == str(mnt), 5, "the user")
            assert has_address(lab, "a", "198.18.0.100") == "eth0" and mounted(lab, "a", mnt)
            group = procs.group_members(ready["service_pgid"])
            assert len(group) == 2
            if how == "sigstop":
                lab.pause(cmcld)
            else:
                (tmp_path / "stop").touch()
            fired = root / "var/lib/cmcluster/stopnow.fired.json"
            wait_for(fired.exists, 3, "the guard to fire")
            record = json.loads(fired.read_text())
            report = record["report"]
            assert report["clean"], report
            assert [o["kind"] for o in report["outcomes"]] == [
                "kill_group",
                "delete_address",
                "unmount",
            ]
            assert record["late_ns"] < -100 * MS, record  # well before the deadline
            assert has_address(lab, "a", "198.18.0.100") is None
            assert not mounted(lab, "a", mnt)
            assert procs.wait_gone(group, 2)
            assert user.wait(5) == -signal.SIGKILL
            read_all(reader)
            time.sleep(0.3)
            assert read_all(reader) == b""
            if how == "sigstop":
                lab.resume(cmcld)
                wait_for(lambda: '"fired"' in out.read_text(), 5, "cmcld to learn it")
                line = next(x for x in out.read_text().splitlines() if '"fired"' in x)
                assert json.loads(line)["kind"] == "GuardFired"
            # cmcld's supervisor saw the service die and, the lease being gone, did not
            # restart it (restarts were allowed).
            wait_for(lambda: '"failed"' in out.read_text(), 5, "the service failure")
            line = next(x for x in out.read_text().splitlines() if '"failed"' in x)
            assert json.loads(line)["reason"] == (
                "service app was killed by SIGKILL; not restarted: this node no longer holds "
                "its lease"
            )
            outcomes = ", ".join(
                f"{o['kind']} {o['elapsed_ns'] / 1e6:.1f} ms" for o in report["outcomes"]
            )
            print(
                f"\nstop-now ({how}): {report['elapsed_ms']:.1f} ms ({outcomes}); "
                f"finished {-record['late_ns'] / 1e6:.0f} ms before the deadline"
            )
    finally:
        os.close(reader)
        pid = ready.get("guard_pid", 0)
        if pid and procs.alive(pid):
            os.kill(pid, signal.SIGKILL)
        pgid = ready.get("service_pgid", 0)
        if pgid and procs.group_members(pgid):
            procs.signal_group(pgid, signal.SIGKILL)
