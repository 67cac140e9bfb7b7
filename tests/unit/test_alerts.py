"""The alert runner (cluster/daemon/alerts.py) with real scripts: the event in CM_ALERT_*
variables, the filter, a hung script killed at its timeout without holding up other
alerts, a missing script logged once, and emit never waiting."""

import asyncio
import logging
import time
from pathlib import Path

import pytest

from cluster.config.model import Alert
from cluster.core.events import Event, Kind
from cluster.daemon.alerts import Alerts
from tests.unit.config.helpers import THREE_NODES, config

RECORD = """#!/bin/sh
env | grep ^CM_ALERT_ | sort > "{out}/$CM_ALERT_SEQUENCE.$CM_ALERT_RECIPIENT"
"""


def alerts_with(tmp: Path, extra: str) -> Alerts:
    cfg = config(THREE_NODES + extra)
    return Alerts("a", lambda: cfg)


def script(tmp: Path, name: str, body: str) -> Path:
    path = tmp / name
    path.write_text(body)
    path.chmod(0o755)
    return path


def recorded(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


async def until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_the_event_reaches_the_scripts_that_want_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    rec = script(tmp_path, "rec.sh", RECORD.format(out=out))
    alerts = alerts_with(
        tmp_path,
        f"ALERT_SCRIPT {rec}\n  ALERT_RECIPIENT every\n"
        f"ALERT_SCRIPT {rec}\n  ALERT_RECIPIENT moves\n  ALERT_EVENTS package_moved\n",
    )

    async def scenario() -> None:
        runner = asyncio.create_task(alerts.run())
        alerts.emit(Event(Kind.NODE_FAILED, node="b", epoch=7, old="member", reason="gone"))
        moved = Event(Kind.PACKAGE_MOVED, node="c", package="pkg1", epoch=8, old="b", new="c")
        alerts.emit(moved)
        await until(lambda: alerts.ran == 3)
        runner.cancel()
        await alerts.close()

    asyncio.run(scenario())
    assert sorted(p.name for p in out.iterdir()) == ["1.every", "2.every", "2.moves"]
    failed = recorded(out / "1.every")
    assert failed["CM_ALERT_KIND"] == "node_failed" and failed["CM_ALERT_NODE"] == "b"
    assert failed["CM_ALERT_EPOCH"] == "7" and failed["CM_ALERT_OLD_STATE"] == "member"
    assert failed["CM_ALERT_RECIPIENT"] == "every" and failed["CM_ALERT_NAME"] == "rec.sh"
    assert failed["CM_ALERT_CLUSTER"] == "c1" and failed["CM_ALERT_REPORTER"] == "a"
    assert failed["CM_ALERT_TIMESTAMP"].endswith("Z") and failed["CM_ALERT_SEQUENCE"] == "1"
    assert abs(int(failed["CM_ALERT_TIMESTAMP_US"]) / 1e6 - time.time()) < 60
    move = recorded(out / "2.moves")
    assert (move["CM_ALERT_PACKAGE"], move["CM_ALERT_OLD_STATE"], move["CM_ALERT_NEW_STATE"]) == (
        "pkg1",
        "b",
        "c",
    )


def test_a_hung_script_is_killed_at_its_timeout_and_holds_nothing_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    rec = script(tmp_path, "rec.sh", RECORD.format(out=out))
    hang = script(tmp_path, "hang.sh", f"#!/bin/sh\necho $$ >> {tmp_path}/pids\nexec sleep 600\n")
    alerts = alerts_with(
        tmp_path,
        f"ALERT_SCRIPT {hang}\n  ALERT_TIMEOUT 1s\nALERT_SCRIPT {rec}\n  ALERT_RECIPIENT rec\n",
    )

    async def scenario() -> float:
        runner = asyncio.create_task(alerts.run())
        began = time.monotonic()
        for i in range(10):  # more than the hung alert may run at once
            alerts.emit(Event(Kind.LEASE_LOST, epoch=i))
        emitted = time.monotonic() - began
        await until(lambda: len(list(out.iterdir())) == 10, 5)  # the other alert ran
        await until(lambda: caplog.text.count("killed") >= 10, 20)  # 4 at a time
        runner.cancel()
        await alerts.close()
        return emitted

    with caplog.at_level(logging.ERROR, "cmcld.alerts"):
        emitted = asyncio.run(scenario())
    assert emitted < 0.05, "emit must not wait for anything"
    assert "alert hang.sh (lease_lost" in caplog.text and "still running after 1 s" in caplog.text
    pids = (tmp_path / "pids").read_text().split()
    assert pids  # (one killed before its shell wrote its PID leaves no line)
    deadline = time.monotonic() + 5
    while any(_alive(int(p)) for p in pids):
        assert time.monotonic() < deadline, "a killed script is still running"
        time.sleep(0.05)


def test_a_missing_script_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    alerts = alerts_with(tmp_path, f"ALERT_SCRIPT {tmp_path}/none.sh\n")

    async def scenario() -> None:
        runner = asyncio.create_task(alerts.run())
        for i in range(3):
            alerts.emit(Event(Kind.NODE_JOINED, node="b", epoch=i))
        await asyncio.sleep(0.5)
        runner.cancel()
        await alerts.close()

    with caplog.at_level(logging.ERROR, "cmcld.alerts"):
        asyncio.run(scenario())
    assert caplog.text.count("cannot run") == 1, caplog.text


def test_no_alert_configured_costs_nothing() -> None:
    alerts = Alerts("a", lambda: None)
    alerts.emit(Event(Kind.NODE_JOINED))
    assert alerts.sequence == 0
    assert Alert("x", "/bin/true", events=("node_failed",)).wants("node_failed")


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


def test_a_script_that_hangs_with_its_output_redirected_is_killed_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hang = script(tmp_path, "quiet.sh", "#!/bin/sh\nexec >/dev/null 2>&1\nexec sleep 600\n")
    alerts = alerts_with(tmp_path, f"ALERT_SCRIPT {hang}\n  ALERT_TIMEOUT 1s\n")

    async def scenario() -> float:
        runner = asyncio.create_task(alerts.run())
        began = time.monotonic()
        alerts.emit(Event(Kind.NODE_JOINED, node="b"))
        await until(lambda: "killed" in caplog.text, 10)
        runner.cancel()
        await alerts.close()
        return time.monotonic() - began

    with caplog.at_level(logging.ERROR, "cmcld.alerts"):
        took = asyncio.run(scenario())
    assert took < 3.0, f"killed only after {took:.1f} s (ALERT_TIMEOUT 1s)"
