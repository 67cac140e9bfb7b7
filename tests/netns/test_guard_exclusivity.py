"""Nothing runs outside the lease guard's reach (DESIGN §2), with the built zipapp on lab
hosts: a node whose guard cannot start runs no package and cmviewcl -v says why; a
cmcld killed with SIGKILL and restarted at once (--auto-start) stops what it left before
it joins, so its service never runs twice."""

import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.netns.cluster import LabCluster, lab_cluster, wait_for

PKG = "h1pkg"
NODES = ("n1", "n2", "n3")
MT = 1.0


def h1_prefix() -> str:
    """This file's lab names: "h1" and a random suffix no namespace of the machine has."""
    while True:
        prefix = "h1" + secrets.token_hex(3)
        if not any(p.name.startswith(prefix) for p in Path("/run/netns").glob("*")):
            return prefix


@contextmanager
def service_cluster(work: Path, *, run: bool = True) -> Iterator[tuple[LabCluster, Path]]:
    """Three nodes (MEMBER_TIMEOUT 1 s) and a package file: one service, nodes n1, n2."""
    script = work / "h1svc.sh"
    script.write_text("#!/bin/sh\n# h1svc: lives until killed\nwhile :; do sleep 0.1; done\n")
    config = work / f"{PKG}.conf"
    config.write_text(
        "\n".join(
            [
                f"package_name {PKG}",
                "node_name n1",
                "node_name n2",
                "auto_run yes",
                "service_name h1svc",
                f"service_cmd /bin/sh {script}",
                "service_restart none",
                "service_halt_timeout 2",
            ]
        )
        + "\n"
    )
    with lab_cluster(work, NODES, member_timeout=MT, run=run, prefix=h1_prefix()) as c:
        yield c, config


def instances(script: str) -> set[int]:
    """Process groups running the service, on any host (they share the PID space)."""
    groups = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if script.encode() not in (entry / "cmdline").read_bytes():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            groups.add(int(fields[2]))
    return groups


class Census:
    """Samples the service's instances every 10 ms in a thread: the most seen at once."""

    def __init__(self, script: str) -> None:
        self.script, self.most, self.seen = script, 0, set[int]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Census":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = instances(self.script)
            self.most = max(self.most, len(now))
            self.seen |= now
            self._stop.wait(0.01)


def verbose_view(c: LabCluster, node: str) -> str:
    return c.ok(node, "cmviewcl", "-v")


def test_a_node_whose_guard_cannot_start_runs_no_package_and_says_why(tmp_path: Path) -> None:
    with service_cluster(tmp_path, run=False) as (c, config):
        script = str(tmp_path / "h1svc.sh")
        # n1's guard cannot open its log: it cannot start (as with a full or broken /var).
        assert c.daemons["n1"].stop() == 0
        guard_log = c.root("n1") / "var/log/cmcluster/cmguard.log"
        guard_log.rename(guard_log.with_name("cmguard.log.before"))
        guard_log.mkdir()
        c.start("n1")
        c.ok("n1", "cmruncl", "-v")
        wait_for(lambda: c.running_members("n2") == set(NODES), 15, "n1 is a member (it votes)")
        c.apply_package("n1", config)
        # n1 is the package's first node, but it runs no package: n2 runs it.
        c.wait_package(PKG, on="n2", observer="n3", timeout=30)
        assert len(instances(script)) == 1
        assert not [
            pid for pid in c.lab.pids_in("n1") if script in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        for observer in ("n1", "n2"):
            text = verbose_view(c, observer)
            found = re.search(r"WARNING: n1 runs no package: (.*)", text)
            assert found, f"cmviewcl -v on {observer} does not say why:\n{text}"
            why = found.group(1)
            assert why.startswith("the lease guard is not running: the lease guard could not"), why
            assert "Is a directory" in why, why
        assert "WARNING: n2" not in verbose_view(c, "n2")
        # cmrunpkg cannot put it on n1 either.
        c.ok("n2", "cmhaltpkg", PKG)
        c.wait_package(PKG, on=None, observer="n2", state="halted", timeout=20)
        refused = c.cm("n2", "cmrunpkg", "-n", "n1", PKG)
        assert refused.returncode != 0, refused.stdout
        assert "Traceback" not in refused.stdout + refused.stderr
        assert not instances(script)

        # The operator repairs /var: within a few seconds n1 has a guard and may run it.
        guard_log.rmdir()
        wait_for(
            lambda: "runs no package" not in verbose_view(c, "n1"), 20, "n1's guard running again"
        )
        c.ok("n2", "cmrunpkg", "-n", "n1", PKG)
        c.wait_package(PKG, on="n1", observer="n2", timeout=30)
        assert len(instances(script)) == 1


def test_cmcld_killed_and_restarted_at_once_never_runs_its_service_twice(tmp_path: Path) -> None:
    with service_cluster(tmp_path) as (c, config):
        script = str(tmp_path / "h1svc.sh")
        c.apply_package("n1", config)
        c.wait_package(PKG, on="n1", observer="n2", timeout=30)
        (before,) = instances(script)
        with Census(script) as census:
            killed = c.kill("n1")
            c.start("n1", "--auto-start")  # launched a few ms after the kill
            restarted = c.daemons["n1"]
            log = restarted.wait_for_log("stopped what the previous cmcld left", 20)
            assert "the previous cmcld left 1 action(s) in the lease guard's plan (h1pkg)" in log
            wait_for(lambda: c.running_members("n2") == set(NODES), 30, "n1 back as a member")
            seen: dict[str, Any] = {}

            def running() -> bool:
                seen.update(c.package("n2", PKG))
                return seen.get("state") == "running" and seen.get("node") in ("n1", "n2")

            wait_for(running, 30, f"{PKG} running again")
            wait_for(lambda: len(instances(script)) == 1, 10, "one instance of the service")
            time.sleep(2 * MT)  # and it stays one
        assert census.most == 1, f"the service ran {census.most} times at once"
        (now,) = instances(script)
        assert now != before, "the instance the killed cmcld left still runs"
        seen.update(c.package("n2", PKG))
        services = seen.get("services") or []
        assert services and services[0]["pid"] == now, (services, now)
        print(f"killed {time.monotonic() - killed:.1f} s ago; {PKG} runs on {seen['node']}")
