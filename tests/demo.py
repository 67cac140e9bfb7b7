"""make demo: a live cluster of three hosts on this machine, and a package failing over.

Builds on dist/cmcluster.pyz (make builds it first) and runs as root. Each host is a
network namespace (with its own mount table and host name) running the zipapp's cmcld
with its own CMCLUSTER_ROOT; a fourth host runs the quorum server, a fifth is a client.
The operator's steps are the zipapp's own commands. A package with a floating IP, an
ext4 filesystem on a shared disk (one image, one loop device per host, MMP on) and a
small TCP service runs on node1. node1's lan cable is pulled: its standby interface
takes over the lan addresses (local LAN failover) and the package stays; then node1
crashes and the client reaches the service on the adoptive node. Everything is removed
at the end, also on failure.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.netns.cluster import QS, LabCluster, cm_command, wait_for
from tests.netns.lab import Lab, LabError
from tests.netns.pkgsite import FLOATING, PKG, PORT, Site, package_text
from tests.support import ClusterCA

NODES = ("node1", "node2", "node3")
MEMBER_TIMEOUT = 2.0


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(c: LabCluster, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = c.cm(node, *args)
    print(f"[{node}]# {' '.join(args)}")
    body = (result.stdout + result.stderr).rstrip()
    print(textwrap.indent(body, "    ") if body else "    (no output)", flush=True)
    return result


NEEDS = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "losetup": "util-linux",
    "mkfs.ext4": "e2fsprogs",
    "arping": "iputils-arping",
}


def main() -> int:
    if os.geteuid() != 0:
        print(
            "make demo needs root: it creates network namespaces, veth links and a bridge,\n"
            "loop devices for a shared disk, mounts, and floating IP addresses (all removed\n"
            "at the end). Run it as root: sudo make demo"
        )
        return 2
    missing = sorted({pkg for tool, pkg in NEEDS.items() if shutil.which(tool) is None})
    if missing:
        print(f"make demo needs these packages: apt-get install {' '.join(missing)}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="cmdemo-"))
    try:
        with Lab() as lab:
            say("Four hosts in network namespaces: three nodes and a quorum server")
            lab.build([*NODES, QS], networks=("lan", "hb", "standby"))
            for host in lab.hosts.values():
                print(
                    f"  {host.name:<6} eth0 {host.address:<14} eth1 {host.addresses['hb']:<14}"
                    f" eth2 standby  namespace {host.namespace}"
                )
            return run_demo(
                LabCluster(lab, work, NODES, cm_command(), ClusterCA.create(work / "ca", "demo"))
            )
    except (LabError, AssertionError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print("\nCleaned up: namespaces, processes and files of the demo are gone.")


def run_demo(c: LabCluster) -> int:
    say("Certificates from the cluster CA; cmcld on each node, cmqsd on the quorum server")
    c.start_quorum_server()
    for node in NODES:
        c._install(node)
        c.start(node)
        print(f"  {node}: cmcld pid {c.daemons[node].process.pid} (mutual TLS, port 5302)")
    print(f"  {QS}: cmqsd pid {c.daemons[QS].process.pid} (port 1238)")

    say("cmquerycl -C asks every node for its networks and writes the cluster file")
    path = c.work / "cluster.ascii"
    show(
        c,
        "node1",
        "cmquerycl",
        "-n",
        "node1",
        "-n",
        "node2",
        "-n",
        "node3",
        "-q",
        QS,
        "-C",
        str(path),
        "--cluster",
        "demo",
    )
    text = re.sub(r"(?m)^MEMBER_TIMEOUT\s+\d+$", "MEMBER_TIMEOUT 2s", path.read_text())
    path.write_text(text)
    print(f"  (MEMBER_TIMEOUT set to {MEMBER_TIMEOUT:g} s for the demo)")
    show(c, "node1", "cmcheckconf", "-C", str(path))
    show(c, "node1", "cmapplyconf", "-f", "-C", str(path))

    say("cmruncl forms the cluster")
    show(c, "node1", "cmruncl", "-v")
    show(c, "node2", "cmviewcl", "-v")

    say("node3's cmcld is killed (SIGKILL): the others exclude it after MEMBER_TIMEOUT")
    killed = c.kill("node3")
    took = wait_for(lambda: c.running_members("node1") == {"node1", "node2"}, 15, "reformed")
    print(f"  node1 runs without node3 {took:.1f} s after the kill")
    killed_wall = time.time() - (time.monotonic() - killed)
    decided = c.event_time("node1", r"left node3", after=killed_wall)
    print(f"  node1's log: membership decided {decided - killed_wall:.2f} s after the kill")
    show(c, "node1", "cmviewcl")

    say("node3 restarts and rejoins with cmrunnode")
    c.start("node3")
    show(c, "node3", "cmrunnode", "-v")
    show(c, "node1", "cmviewcl")

    wait_for(lambda: c.running_members("node1") == set(NODES), 15, "node3 rejoined")
    return run_package(c)


def run_package(c: LabCluster) -> int:
    say("A shared disk: one image, one loop device per host, the same name on each")
    disk = c.lab.shared_disk("data", 64, directory=c.work, hosts=NODES)
    for host, device in disk.devices.items():
        print(f"  {host}: {disk.path} is {device} (ext4 with MMP, multi-mount protection)")
    mount_point = c.work / "data"
    mount_point.mkdir()
    config = c.work / f"{PKG}.conf"
    config.write_text(package_text(disk.path, mount_point, NODES))
    site = Site(c, disk, mount_point, config, NODES)

    say(f"Package {PKG}: floating IP {FLOATING}, a filesystem on the disk, a TCP service")
    print(textwrap.indent(config.read_text().rstrip(), "    "))
    show(c, "node1", "cmapplyconf", "-f", "-P", str(config))
    c.wait_package(PKG, on="node1", observer="node2", timeout=20)
    show(c, "node2", "cmviewcl", "-v")
    print(f"[client]$ connect to {FLOATING}:{PORT}")
    print(f"    {site.wait_answer_from('node1', 10)}   (host and PID of the service)")
    run_lan_failover(site)

    say("node1 crashes: off the network, every process killed, its disk left as is")
    probe = site.start_probe()
    crashed_at = c.crash("node1")
    view = c.wait_package(PKG, on=None, away_from="node1", observer="node2", timeout=60)
    adoptive = view["node"]
    answer = site.wait_answer_from(adoptive, 15)
    summary = site.stop_probe(probe)
    print(f"[client]$ connect to {FLOATING}:{PORT}")
    print(f"    {answer}   (the same address, now served by {adoptive})")
    outage = summary["outages"][-1]["seconds"] if summary["outages"] else float("nan")
    log = f"{PKG}.log"
    mmp = c.event_time(adoptive, r"mounted .* on ", crashed_at, log) - c.event_time(
        adoptive, r"starting package", crashed_at, log
    )
    print(
        f"  The client, probing every 10 ms, saw no answer for {outage:.1f} s: "
        f"MEMBER_TIMEOUT {MEMBER_TIMEOUT:g} s to notice,\n  then {mmp:.1f} s for ext4's "
        "multi-mount protection to be sure node1 no longer writes the disk."
    )
    show(c, adoptive, "cmviewcl", "-v")
    return 0


def run_lan_failover(site: Site) -> None:
    c = site.c
    say("node1's lan cable is pulled: its standby eth2 takes over eth0's addresses")
    probe = site.start_probe()
    pulled = time.time()
    c.lab.pull_cable("node1", "lan")
    stamp, line = c.event("node1", r"local LAN failover: eth0 link down", pulled, wait=5)
    print(f"  node1's log: {line.split('cmcld', 1)[-1].split(': ', 1)[-1]}")
    print(f"  ({(stamp - pulled) * 1e3:.0f} ms after the cable was pulled)")
    show(c, "node1", "cmviewcl", "-v", "-n", "node1")
    answer = site.wait_answer_from("node1", 10)
    c.lab.plug_cable("node1", "lan")
    c.event("node1", r"eth0 link up again", pulled, wait=5)
    summary = site.stop_probe(probe)
    longest = max((o["seconds"] for o in summary["outages"]), default=0.0)
    print(f"[client]$ connect to {FLOATING}:{PORT}")
    print(f"    {answer}   (still node1, the package did not move)")
    print(
        "  The cable is back and so are the addresses on eth0. The client, probing every "
        f"10 ms,\n  saw {len(summary['outages'])} outage(s), the longest "
        f"{longest * 1e3:.0f} ms; the membership did not change."
    )


if __name__ == "__main__":
    sys.exit(main())
