"""A failover package on lab hosts, shared by tests/netns/test_packages.py, bench/failover.py
and the demo: three nodes, a floating IP on the lan, an ext4 filesystem on a shared disk
with MMP, the TCP service (and optionally the writer), and a client that probes the
floating address."""

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.netns.cluster import LabCluster, lab_cluster, wait_for
from tests.netns.lab import SharedDisk
from tests.support import host_python

APPS = Path(__file__).resolve().parent / "apps"
PYTHON = host_python()  # the lab apps run as a host would run them
MT = 1.0
PKG = "pkg1"
FLOATING = "198.18.0.100"
PORT = 8080
RESTARTS = 2
NODES = ("n1", "n2", "n3")


def parent_of(pid: int) -> int:
    """The parent of a process (cmcld shows SERVICE_CMD's shell, `sh -c`)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@dataclass
class Site:
    """The cluster, its shared disk and the package's paths."""

    c: LabCluster
    disk: SharedDisk
    mount_point: Path
    config: Path
    nodes: tuple[str, ...] = NODES
    probes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def others(self, *nodes: str) -> list[str]:
        return [n for n in self.nodes if n not in nodes]

    def answer(self, timeout: float = 1.0) -> str:
        """One connection from the client to the floating address: "<host> <pid>"."""
        code = (
            "import socket,sys\n"
            "try:\n"
            "    a = (sys.argv[1], int(sys.argv[2]))\n"
            "    s = socket.create_connection(a, float(sys.argv[3]))\n"
            "    print(s.recv(100).decode().strip())\n"
            "except OSError:\n"
            "    pass\n"
        )
        argv = [PYTHON, "-c", code, FLOATING, str(PORT), str(timeout)]
        return self.c.lab.run("client", argv, timeout=timeout + 10).stdout.strip()

    def wait_answer_from(self, host: str, timeout: float = 30.0) -> str:
        got = ""

        def from_host() -> bool:
            nonlocal got
            got = self.answer(0.2)
            return got.split(" ")[0] == host

        wait_for(from_host, timeout, f"the service answering from {host} (last: {got!r})")
        return got

    def start_probe(self, name: str = "probe") -> tuple[subprocess.Popen[bytes], Path]:
        """The probe, started on the client; returns once it had its first answer."""
        log = self.c.work / f"{name}.json"
        log.write_text("")  # a probe of the same name before must not count
        argv = [PYTHON, str(APPS / "probe.py"), f"{FLOATING}:{PORT}"]
        process = self.c.lab.start("client", argv, {}, log)
        self.probes.append(process)
        wait_for(lambda: '"first"' in log.read_text(), 10, "the probe's first answer", 0.02)
        return process, log

    @staticmethod
    def stop_probe(probe: tuple[subprocess.Popen[bytes], Path]) -> dict[str, Any]:
        process, log = probe
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        summary: dict[str, Any] = json.loads(log.read_text().strip().splitlines()[-1])
        return summary

    def mac(self, host: str) -> str:
        out = self.c.lab.run(host, ["ip", "-j", "link", "show", "eth0"]).stdout
        mac: str = json.loads(out)[0]["address"]
        return mac

    def client_mac(self) -> str:
        """The client's neighbour entry for the floating address ("" when none)."""
        out = self.c.lab.run("client", ["ip", "-j", "neigh", "show", FLOATING]).stdout
        entries = json.loads(out or "[]")
        return str(entries[0].get("lladdr", "")) if entries else ""

    def holds(self, host: str) -> tuple[bool, bool]:
        """(has the floating address, has the filesystem mounted) on host."""
        out = self.c.lab.run(
            host, ["sh", "-c", "ip -4 -o addr; echo --; findmnt -rn -o TARGET"], timeout=10
        ).stdout
        addrs, _, mounts = out.partition("--")
        return f" {FLOATING}/" in addrs, str(self.mount_point) in mounts.split()


def split_outages(summary: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(moves, blips) of a probe summary's outages: after a move another host answers;
    a blip has the same host before and after. A probe attempt that misses its 100 ms
    timeout on a loaded 2-core machine makes a blip; only the moves are the cluster's."""
    moves: list[dict[str, Any]] = []
    blips: list[dict[str, Any]] = []
    for outage in summary["outages"]:
        before, after = (outage[k].split(" ", 1)[0] for k in ("before", "after"))
        (moves if before != after else blips).append(outage)
    return moves, blips


@dataclass
class Watch:
    """Polls, in a thread, which host has the floating address and the filesystem, and
    which MAC address the client's ARP table gives the floating address, so a test can
    say the two were never on two hosts at once (as far as polling every ~50 ms sees;
    the hosts' logs give the exact order)."""

    site: "Site"
    hosts: tuple[str, ...]
    rounds: list[tuple[float, dict[str, tuple[bool, bool]], str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "Watch":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            held = {h: self.site.holds(h) for h in self.hosts}
            self.rounds.append((time.time(), held, self.site.client_mac()))
            self._stop.wait(0.02)

    def both(self) -> list[tuple[float, dict[str, tuple[bool, bool]]]]:
        """Rounds where two hosts had the address, or two had the filesystem."""
        return [
            (t, held)
            for t, held, _ in self.rounds
            if sum(ip for ip, _ in held.values()) > 1 or sum(fs for _, fs in held.values()) > 1
        ]

    def last(self, host: str) -> float:
        """When the host was last seen holding either resource."""
        return max((t for t, held, _ in self.rounds if any(held[host])), default=0.0)

    def first(self, host: str) -> float:
        return min((t for t, held, _ in self.rounds if any(held[host])), default=float("inf"))

    def macs(self) -> list[str]:
        """The client's ARP answer for the floating address, each change once."""
        seen: list[str] = []
        for _, _, mac in self.rounds:
            if mac and (not seen or seen[-1] != mac):
                seen.append(mac)
        return seen


def package_text(
    site_disk: str, mount_point: Path, nodes: Sequence[str] = NODES, **options: str
) -> str:
    values = {
        "failback_policy": "manual",
        "service_restart": str(RESTARTS),
        "service_fail_fast_enabled": "no",
        "monitored_subnet": "",
        "local_lan_failover_allowed": "",
        "writer": "",
    }
    values.update(options)
    lines = [
        f"package_name {PKG}",
        *(f"node_name {n}" for n in nodes),
        "auto_run yes",
        "failover_policy configured_node",
        f"failback_policy {values['failback_policy']}",
        "ip_subnet 198.18.0.0/24",
        f"ip_address {FLOATING}",
        f"fs_name {site_disk}",
        f"fs_directory {mount_point}",
        "fs_type ext4",
        "service_name pkg1_tcp",
        f"service_cmd {PYTHON} {APPS / 'tcp_service.py'} {PORT}",
        f"service_restart {values['service_restart']}",
        f"service_fail_fast_enabled {values['service_fail_fast_enabled']}",
        "service_halt_timeout 5",
    ]
    if values["monitored_subnet"]:
        lines.append(f"monitored_subnet {values['monitored_subnet']}")
    if values["local_lan_failover_allowed"]:
        lines.append(f"local_lan_failover_allowed {values['local_lan_failover_allowed']}")
    if values["writer"]:
        lines += [
            "service_name pkg1_writer",
            f"service_cmd {PYTHON} {APPS / 'writer.py'} {mount_point / 'writer.log'}",
            "service_restart unlimited",
            "service_halt_timeout 5",
        ]
    return "\n".join(lines) + "\n"


@contextmanager
def package_site(
    work: Path,
    nodes: Sequence[str] = NODES,
    member_timeout: float = MT,
    networks: Sequence[str] = ("lan",),
    **options: str,
) -> Iterator[Site]:
    """Nodes formed with MEMBER_TIMEOUT (1 s), the shared disk, and the package
    applied and running on its first node."""
    first, second = nodes[0], nodes[1]
    with lab_cluster(work, nodes, member_timeout=member_timeout, networks=networks) as c:
        disk = c.lab.shared_disk("data", 64, directory=work)
        mount_point = work / "data"
        mount_point.mkdir()
        config = work / f"{PKG}.conf"
        config.write_text(package_text(disk.path, mount_point, nodes, **options))
        site = Site(c, disk, mount_point, config, tuple(nodes))
        try:
            c.apply_package(first, config)  # AUTO_RUN: the coordinator starts it
            c.wait_package(PKG, on=first, observer=second, timeout=20)
            site.wait_answer_from(first, 10)
            yield site
        finally:
            for process in site.probes:
                if process.poll() is None:
                    process.kill()
                    process.wait(5)
