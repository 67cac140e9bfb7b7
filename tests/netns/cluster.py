"""A whole cluster on lab hosts, driven as an operator would: the built zipapp's own
commands, a cluster file written by cmquerycl -C, optionally a quorum-server host.

Tests use dist/cmcluster.pyz (make test builds it). CMCLUSTER_TESTS_FROM_SOURCE=1 runs
the source tree instead, for quick iterations while developing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.netns.lab import Lab
from tests.support import (
    SOURCE_COMMAND,
    ZIPAPP,
    ClusterCA,
    Daemon,
    command_env,
    zipapp_command,
)

QS = "qs"
QS_POLL = 10.0  # QS_POLLING_INTERVAL of lab clusters: its minimum (Serviceguard's is 300 s)


def cm_command() -> list[str]:
    if os.environ.get("CMCLUSTER_TESTS_FROM_SOURCE"):
        return list(SOURCE_COMMAND)
    if not ZIPAPP.exists():
        pytest.fail(f"{ZIPAPP} is missing: run `make zipapp` (make test does)")
    return zipapp_command()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> float:
    """Seconds it took for `condition` to hold; fails after `timeout`."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(step)


@dataclass
class LabCluster:
    lab: Lab
    work: Path
    nodes: tuple[str, ...]
    command: list[str]
    ca: ClusterCA
    daemons: dict[str, Daemon] = field(default_factory=dict)
    member_timeout: float = 2.0

    def root(self, node: str) -> Path:
        return self.work / node

    def env(self, node: str) -> dict[str, str]:
        return command_env(self.root(node), node)

    def cm(self, node: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.lab.run(node, [*self.command, *args], self.env(node), timeout)

    def ok(self, node: str, *args: str, timeout: float = 120) -> str:
        result = self.cm(node, *args, timeout=timeout)
        assert result.returncode == 0, (
            f"{' '.join(args)} on {node}:\n{result.stdout}{result.stderr}"
        )
        return result.stdout

    # -- daemons ---------------------------------------------------------------------

    def start(self, node: str, *extra_args: str) -> Daemon:
        """cmcld on the node (extra_args: cmcld's own options, such as --auto-start).
        LAB_LOG_LEVEL=debug in the test's environment starts every cmcld with it."""
        level = os.environ.get("LAB_LOG_LEVEL")
        if level:
            extra_args = (*extra_args, "--log-level", level)
        daemon = self.lab.start_daemon(
            node, self.root(node), node, self.command, extra_args=extra_args
        )
        self.daemons[node] = daemon
        return daemon

    def start_quorum_server(self) -> Daemon:
        self._install(QS, quorum_server=True)
        daemon = self.lab.start_daemon(QS, self.root(QS), QS, self.command, program="cmqsd")
        self.daemons[QS] = daemon
        return daemon

    def _install(self, name: str, quorum_server: bool = False) -> None:
        from cluster.paths import HostPaths
        from cluster.security import ca
        from cluster.security.bundle import install_node_bundle
        from cluster.security.identity import Identity, Kind

        kind = Kind.QUORUM_SERVER if quorum_server else Kind.NODE
        issued = ca.issue(self.ca.authority, Identity(kind, name), days=365)
        bundle = self.work / f"{name}.pem"
        ca.write_private(bundle, ca.bundle_bytes(issued, self.ca.authority), force=True)
        install_node_bundle(HostPaths(self.root(name)), bundle, name, force=True)

    def kill(self, node: str) -> float:
        """SIGKILL the node's daemon; returns the time (monotonic) it died."""
        self.lab.kill(self.daemons[node].process)
        return time.monotonic()

    def crash(self, node: str) -> float:
        """The whole host crashes (Lab.crash: off the networks, every process killed,
        addresses gone, shared disks left as a crash leaves them); returns the wall
        time it happened."""
        at = time.time()
        self.lab.crash(node)
        return at

    def reboot(self, node: str) -> Daemon:
        """A crashed host comes back and its cmcld starts (AUTO_START is the test's)."""
        self.lab.boot(node)
        return self.start(node)

    def cm_ok(self, node: str, *args: str, timeout: float = 120) -> str:
        return self.ok(node, *args, timeout=timeout)

    # -- state -------------------------------------------------------------------------

    def view(self, node: str, timeout: float = 30) -> dict[str, Any]:
        try:
            result = self.cm(node, "cmviewcl", "-f", "json", timeout=timeout)
        except subprocess.TimeoutExpired:
            return {}
        if result.returncode != 0:
            return {}
        view: dict[str, Any] = json.loads(result.stdout)
        return view

    def package(self, node: str, name: str, timeout: float = 30) -> dict[str, Any]:
        """The package as `node` sees it in `cmviewcl -f json` ({} if it cannot say)."""
        for package in self.view(node, timeout).get("packages", []):
            if package["name"] == name:
                found: dict[str, Any] = package
                return found
        return {}

    def wait_package(
        self,
        name: str,
        *,
        on: str | None,
        observer: str,
        state: str = "running",
        timeout: float = 30.0,
        away_from: str | None = None,
    ) -> dict[str, Any]:
        """Wait until `observer` shows the package in `state` on node `on` (None: on no
        node), or with `away_from`, on any node but that one; returns what it showed."""
        seen: dict[str, Any] = {}

        def there() -> bool:
            nonlocal seen
            seen = self.package(observer, name, timeout=10)
            node = seen.get("node") or None
            if seen.get("state") != state:
                return False
            return node not in (None, away_from) if away_from else node == on

        where = f"off {away_from}" if away_from else f"on {on or 'no node'}"
        try:
            wait_for(there, timeout, f"{name} {state} {where}", step=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen from {observer}: {seen}") from None
        return seen

    def apply_package(self, node: str, path: Path) -> None:
        self.ok(node, "cmapplyconf", "-f", "-P", str(path))

    def file_log(self, node: str, name: str) -> str:
        """A log of the node's var/log/cmcluster: cmcld.log, cmguard.log, <pkg>.log."""
        try:
            return (self.root(node) / "var/log/cmcluster" / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def states(self, node: str) -> dict[str, str]:
        """{node: "status/state"} as `node` sees the cluster."""
        view = self.view(node)
        return {n["name"]: f"{n['status']}/{n['state']}" for n in view.get("nodes", [])}

    def running_members(self, node: str) -> set[str]:
        return {n for n, s in self.states(node).items() if s == "up/running"}

    def log(self, node: str) -> str:
        return self.daemons[node].log()

    def print_log_tails(self, lines: int = 30) -> None:
        """The end of every node's cmcld.log and package logs, printed (so shown with a
        failed test's output): a CI log is often all there is to tell why a cluster did
        not recover. Each live cmcld then logs where its tasks wait (SIGUSR1), printed
        after what it logged before."""
        before = {node: self.file_log(node, "cmcld.log").splitlines() for node in self.nodes}
        for node in self.nodes:
            daemon = self.daemons.get(node)
            if daemon is not None and daemon.process.poll() is None:
                daemon.process.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        for node in self.nodes:
            tail = before[node][-lines:]
            print(f"--- {node} cmcld.log, last {len(tail)} lines ---")
            print("\n".join(tail))
            for path in sorted((self.root(node) / "var/log/cmcluster").glob("*.log")):
                if path.name not in ("cmcld.log", "cmguard.log"):
                    last = path.read_text(errors="replace").splitlines()[-lines // 2 :]
                    print(f"--- {node} {path.name}, last {len(last)} lines ---")
                    print("\n".join(last))
            waits = self.file_log(node, "cmcld.log").splitlines()[len(before[node]) :]
            print(f"--- {node} cmcld tasks (SIGUSR1) ---")
            print("\n".join(waits))
        # Last, as a CI view keeps the end of a long output: what went wrong, everywhere.
        for node in self.nodes:
            bad = [
                line
                for line in before[node]
                if " ERROR " in line or "failure history" in line or " failed " in line
            ][-lines // 2 :]
            print(f"--- {node} cmcld.log, errors and failures, last {len(bad)} ---")
            print("\n".join(bad))

    def event_time(
        self, node: str, pattern: str, after: float = 0.0, log: str = "cmcld.log"
    ) -> float:
        """Wall-clock time (epoch seconds) of the first line of the node's `log`
        matching `pattern` at or after `after`; the lab's hosts share this machine's
        clock."""
        return self.event(node, pattern, after, log)[0]

    def event(
        self,
        node: str,
        pattern: str,
        after: float = 0.0,
        log: str = "cmcld.log",
        wait: float = 0.0,
    ) -> tuple[float, str]:
        """(wall-clock time, line) of the first line like event_time's, waiting up to
        `wait` seconds for it to be written."""
        import datetime as dt

        deadline = time.monotonic() + wait
        while True:
            for line in self.file_log(node, log).splitlines():
                if re.search(pattern, line):
                    stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
                    if stamp >= after:
                        return stamp, line
            if time.monotonic() >= deadline:
                raise AssertionError(f"no log line matching {pattern!r} on {node}")
            time.sleep(0.05)

    def lease_deadline(self, node: str, after: float) -> float:
        """Wall-clock time at which the lease that `node` lost after `after` ended, from
        its LEASE LOST line ("lease deadline in 180 ms" / "... 20 ms ago")."""
        stamp, line = self.event(node, r"LEASE LOST", after)
        found = re.search(r"lease deadline (in (-?\d+) ms|(\d+) ms ago)", line)
        assert found, f"no deadline in {line!r}"
        ahead = int(found.group(2)) if found.group(2) is not None else -int(found.group(3))
        return stamp + ahead / 1000


@contextmanager
def lab_cluster(
    work: Path,
    nodes: Sequence[str] = ("n1", "n2", "n3"),
    *,
    networks: Sequence[str] = ("lan",),
    quorum_server: bool = False,
    member_timeout: float = 2.0,
    run: bool = True,
    prefix: str | None = None,
) -> Iterator[LabCluster]:
    """Lab hosts with cmcld running, the configuration applied, and (by default) the
    cluster formed with cmruncl. Everything is torn down afterwards. `prefix`: the
    lab's names (default: Lab's own, per run)."""
    hosts = [*nodes, QS] if quorum_server else list(nodes)
    with Lab(prefix=prefix) if prefix else Lab() as lab:
        lab.build(hosts, networks=networks)
        cluster = LabCluster(
            lab,
            work,
            tuple(nodes),
            cm_command(),
            ClusterCA.create(work / "ca", "lab"),
            member_timeout=member_timeout,
        )
        if quorum_server:
            cluster.start_quorum_server()
        for node in nodes:
            cluster._install(node)
            cluster.start(node)
        configure(cluster, quorum_server=quorum_server, run=run)
        try:
            yield cluster
        except BaseException:
            cluster.print_log_tails()
            raise


def configure(
    cluster: LabCluster, name: str = "lab", *, quorum_server: bool = False, run: bool = True
) -> None:
    """As an operator does it: cmquerycl -C (with -q when there is a quorum server),
    MEMBER_TIMEOUT set to the cluster's, cmapplyconf, and (by default) cmruncl."""
    nodes = cluster.nodes
    path = cluster.work / "cluster.ascii"
    args = [a for n in nodes for a in ("-n", n)]
    if quorum_server:
        args += ["-q", QS]
    cluster.ok(nodes[0], "cmquerycl", *args, "-C", str(path), "--cluster", name)
    text = re.sub(
        r"(?m)^MEMBER_TIMEOUT\s+\d+$",
        f"MEMBER_TIMEOUT {int(cluster.member_timeout * 1000)}ms",
        path.read_text(),
    )
    if quorum_server:
        text = re.sub(r"(?m)^QS_POLLING_INTERVAL\s+\S+$", f"QS_POLLING_INTERVAL {QS_POLL:g}s", text)
        assert f"QS_POLLING_INTERVAL {QS_POLL:g}s" in text, "cmquerycl -q wrote no interval"
    path.write_text(text)
    cluster.ok(nodes[0], "cmapplyconf", "-f", "-C", str(path))
    if run:
        cluster.ok(nodes[0], "cmruncl", "-v")
        wait_for(lambda: cluster.running_members(nodes[0]) == set(nodes), 10, "cluster formed")
