"""WATCHDOG_DEVICE from the applied configuration reaches the lease guards of running
cmclds (they start before any configuration exists), and a guard that fires stops
feeding it. There is no softdog here, so the device is a FIFO the test reads."""

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.netns.cluster import LabCluster, lab_cluster, wait_for


def guard_status(c: LabCluster, node: str) -> dict[str, Any]:
    try:
        value = json.loads((c.root(node) / "var/run/cmcluster/guard.json").read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def watchdog_of(c: LabCluster, node: str) -> dict[str, Any]:
    return guard_status(c, node).get("watchdog") or {}


def drain(fd: int) -> bytes:
    got = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return got
        if not chunk:
            return got
        got += chunk


def test_watchdog_applied_after_cmcld_started_is_fed_then_dropped(tmp_path: Path) -> None:
    fifo = tmp_path / "watchdog"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # guards open it for writing
    try:
        with lab_cluster(tmp_path, run=False) as c:
            for node in c.nodes:
                assert not watchdog_of(c, node), "a guard fed a watchdog nobody configured"
            path = tmp_path / "cluster.ascii"
            path.write_text(path.read_text() + f"\nWATCHDOG_DEVICE {fifo}\n")
            c.ok("n1", "cmapplyconf", "-f", "-C", str(path))
            for node in c.nodes:
                wait_for(
                    lambda n=node: watchdog_of(c, n).get("device") == str(fifo),  # type: ignore[misc]
                    15,
                    f"{node}'s guard holds the watchdog",
                )
            c.ok("n1", "cmruncl", "-v")
            wait_for(lambda: c.running_members("n1") == set(c.nodes), 15, "cluster formed")
            drain(reader)
            time.sleep(1.5)
            assert drain(reader).count(b"k") >= 3, "the guards do not feed the watchdog"
            assert all(watchdog_of(c, n).get("feeding") for n in c.nodes)

            # n1's cmcld freezes: its guard fires and stops feeding (a real device would
            # now reset the host); the others go on feeding.
            c.lab.pause(c.daemons["n1"].process)
            try:
                wait_for(lambda: guard_status(c, "n1").get("state") == "fired", 15, "n1 fired")
                assert watchdog_of(c, "n1").get("feeding") is False
                assert all(watchdog_of(c, n).get("feeding") for n in ("n2", "n3"))
            finally:
                c.lab.resume(c.daemons["n1"].process)
    finally:
        os.close(reader)
