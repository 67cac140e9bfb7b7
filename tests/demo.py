"""make demo: a live cluster of three hosts on this machine, as far as it is built.

Builds on dist/cmcluster.pyz (make builds it first) and runs as root. Each host is a
network namespace (with its own mount table and host name) running the zipapp's cmcld
with its own CMCLUSTER_ROOT; a fourth host runs the quorum server. The operator's steps
are the zipapp's own commands. Everything is removed at the end, also on failure.
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


def main() -> int:
    if os.geteuid() != 0:
        print("make demo needs root: it creates network namespaces. Run: sudo make demo")
        return 2
    for tool in ("ip", "nsenter"):
        if shutil.which(tool) is None:
            print(f"make demo needs {tool} (apt-get install iproute2 util-linux)")
            return 2
    work = Path(tempfile.mkdtemp(prefix="cmdemo-"))
    try:
        with Lab() as lab:
            say("Four hosts in network namespaces: three nodes and a quorum server")
            lab.build([*NODES, QS], networks=("lan", "hb"))
            for host in lab.hosts.values():
                print(
                    f"  {host.name:<6} {host.address:<14} and {host.addresses['hb']:<14}"
                    f" namespace {host.namespace}"
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

    say("Not built yet")
    print(
        textwrap.dedent("""\
        Packages (floating IP, filesystem, service) and their failover are the next
        step: this demo will then crash the host running a package and show a client
        reaching it again on the adoptive host.""").rstrip()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
