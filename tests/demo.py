"""make demo: a live cluster of three hosts on this machine, as far as it is built.

Builds on dist/cmcluster.pyz (make builds it first) and runs as root. Each host is a
network namespace with its own /etc/cmcluster tree (CMCLUSTER_ROOT); the operator's
steps are the zipapp's own commands. Everything is removed at the end, also on failure.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from tests.netns.lab import Lab, LabError
from tests.support import ZIPAPP, command_env

NODES = ("node1", "node2", "node3")


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(result: subprocess.CompletedProcess[str], command: str) -> None:
    print(f"$ {command}")
    body = (result.stdout + result.stderr).rstrip()
    print(textwrap.indent(body, "  ") if body else "  (no output)")
    print(f"  [exit status {result.returncode}]", flush=True)


def main() -> int:
    if os.geteuid() != 0:
        print("make demo needs root: it creates network namespaces. Run: sudo make demo")
        return 2
    if shutil.which("ip") is None:
        print("make demo needs iproute2 (apt-get install iproute2)")
        return 2
    if not ZIPAPP.exists():
        print(f"{ZIPAPP} is missing: run make zipapp")
        return 2
    zipapp = str(ZIPAPP)
    work = Path(tempfile.mkdtemp(prefix="cmdemo-"))
    try:
        with Lab() as lab:
            say(f"Three hosts in network namespaces {lab.prefix}-node1..3 on 198.18.0.0/24")
            lab.build(NODES)
            for host in lab.hosts.values():
                print(f"  {host.name:<6} {host.address:<14} namespace {host.namespace}")
            return run_demo(lab, zipapp, work)
    except LabError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print("\nCleaned up: namespaces, processes and files of the demo are gone.")


def run_demo(lab: Lab, zipapp: str, work: Path) -> int:
    admin = command_env(work / "admin", "admin")

    def operator(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [zipapp, *args], env=admin, cwd=work, capture_output=True, text=True, check=False
        )
        show(result, " ".join(["cmcluster.pyz", *args]))
        return result

    say("The operator creates the cluster CA and one credential bundle per node")
    operator("cmcert", "init-ca", "--cluster", "demo")
    for node in NODES:
        operator("cmcert", "issue", "--node", node)
    operator("cmcert", "issue", "--user", "ops", "--role", "monitor")

    say("Each host installs its bundle and starts cmcld (mutual TLS on port 5302)")
    daemons = {}
    for node in NODES:
        root = work / node
        env = command_env(root, node)
        result = subprocess.run(
            [zipapp, "cmcert", "install", str(work / f"{node}.pem")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        show(result, f"[{node}] cmcert install {node}.pem")
        daemons[node] = lab.start_daemon(node, root, node, [zipapp])
        print(f"  [{node}] cmcld running, pid {daemons[node].process.pid}")

    def on(node: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = lab.run(node, [zipapp, *args], command_env(work / node, node))
        show(result, f"[{node}] {' '.join(args)}")
        return result

    say("cmquerycl on node1 asks every node's cmcld for its networks")
    on("node1", "cmquerycl", "-n", "node1", "-n", "node2", "-n", "node3")

    say("An operator with a monitor certificate reads from the client namespace...")
    client_env = command_env(
        work / "client",
        "client",
        CMCLUSTER_CERT=str(work / "ops.pem"),
        CMCLUSTER_SERVER="198.18.0.11",
    )
    for args in (["cmsetlog"], ["cmquerycl"]):
        result = lab.run("client", [zipapp, *args], client_env)
        show(result, f"[client] {' '.join(args)} --cert ops.pem --server 198.18.0.11")

    say("A certificate from another cluster's CA is refused, and node2 logs why")
    subprocess.run(
        [zipapp, "cmcert", "init-ca", "--dir", str(work / "other"), "--cluster", "x"],
        env=admin,
        capture_output=True,
        check=True,
    )
    subprocess.run(
        [
            zipapp,
            "cmcert",
            "issue",
            "--dir",
            str(work / "other"),
            "--user",
            "eve",
            "--role",
            "full_admin",
            "-o",
            str(work / "eve.pem"),
        ],
        env=admin,
        capture_output=True,
        check=True,
    )
    eve = dict(
        client_env,
        CMCLUSTER_CERT=str(work / "eve.pem"),
        CMCLUSTER_CA=str(work / "node2/etc/cmcluster/tls/ca.crt"),
    )
    result = lab.run("client", [zipapp, "cmquerycl", "--server", "198.18.0.11"], eve)
    show(result, "[client] cmquerycl --cert eve.pem --server 198.18.0.11")
    daemons["node2"].wait_for_log("TLS handshake refused")
    refused = [line for line in daemons["node2"].log().splitlines() if "refused" in line]
    print("  node2 cmcld.log: " + refused[-1].split(": ", 1)[1])

    say("node3's cmcld is killed (SIGKILL); node1 sees it as unreachable")
    daemons["node3"].process.send_signal(signal.SIGKILL)
    daemons["node3"].process.wait(10)
    on("node1", "cmquerycl", "-n", "node1", "-n", "node3")

    say("Not built yet")
    print(
        textwrap.dedent("""\
        Cluster formation (cmruncl, cmviewcl), heartbeats and the quorum server, and
        packages with floating IPs, filesystems, services and failover are the next
        issues. This demo will grow to show a package failing over.""").rstrip()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
