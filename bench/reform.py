"""Reformation time and idle CPU of cmcld on namespace hosts (MEMBER_TIMEOUT 1 s).

Usage: .venv/bin/python bench/reform.py [--sizes 3,8,16] [--runs 5] [--cpu-seconds 20]
(as root, after make zipapp)

For each cluster size: form the cluster, measure the CPU of every idle cmcld of the
formed cluster from /proc over --cpu-seconds, then repeatedly SIGKILL one non-coordinator cmcld and
measure from the kill to the coordinator's log line deciding the membership without
it (the lab's hosts share this machine's clock); restart the node and let it rejoin
before the next run. All hosts share this machine's CPUs: when they cannot keep up,
the bench says so instead of inventing a figure.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import summary
from tests.netns.cluster import LabCluster, lab_cluster, wait_for

MT = 1.0


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _members_are(c: LabCluster, node: str, members: set[str]) -> bool:
    return c.running_members(node) == members


def reformations(c: LabCluster, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        view = c.view(c.nodes[0])
        victim = random.choice([n for n in c.nodes if n != view["coordinator"]])
        survivor = view["coordinator"]
        killed_at = time.time()
        c.kill(victim)
        others = set(c.nodes) - {victim}
        wait_for(partial(_members_are, c, survivor, others), 30, "reformed", 0.2)
        decided = c.event_time(survivor, rf"epoch \d+: .*left {victim}", after=killed_at)
        samples.append(decided - killed_at)
        c.start(victim)
        c.ok(victim, "cmrunnode")
        wait_for(partial(_members_are, c, survivor, set(c.nodes)), 60, "rejoined", 0.3)
    return samples


def idle_cpu(c: LabCluster, seconds: float) -> list[float]:
    pids = [c.daemons[n].process.pid for n in c.nodes]
    hz = os.sysconf("SC_CLK_TCK")
    before = [cpu_ticks(p) for p in pids]
    time.sleep(seconds)
    after = [cpu_ticks(p) for p in pids]
    return [100.0 * (a - b) / hz / seconds for a, b in zip(after, before, strict=True)]


def measure(size: int, runs: int, mt: float, cpu_seconds: float) -> None:
    nodes = tuple(f"n{i:02d}" for i in range(1, size + 1))
    label = f"{size:>2} nodes, MT {mt:g} s"
    with tempfile.TemporaryDirectory(prefix="cmbench-") as scratch:
        try:
            with lab_cluster(Path(scratch), nodes, member_timeout=mt, run=False) as c:
                result = c.cm(nodes[0], "cmruncl", timeout=120)
                if result.returncode != 0:
                    why = result.stdout.strip().splitlines()[-1]
                    print(
                        f"{label}: the cluster did not form: {why} (this machine has too "
                        "little CPU for this many hosts at this rate)"
                    )
                    return
                wait_for(partial(_members_are, c, nodes[0], set(nodes)), 30, "formed", 0.3)
                time.sleep(2)  # let formation's bursts (config, view fan-out) pass
                cpu = idle_cpu(c, cpu_seconds)
                load = sum(cpu)
                print(
                    f"{label}: idle cmcld CPU, cluster formed: {summary(cpu, '% of a core', 1.0)} "
                    f"(all {size}: {load:.0f}% of this machine's {os.cpu_count()} cores)"
                )
                samples = reformations(c, runs)
                print(f"{label}: SIGKILL -> decided {summary(samples, 's', 1.0)}")
        except AssertionError as exc:
            print(f"{label}: failed: {str(exc).splitlines()[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,8,16")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--member-timeout", type=float, default=MT)
    parser.add_argument("--cpu-seconds", type=float, default=20.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/reform.py needs root (network namespaces)", file=sys.stderr)
        return 2
    print(
        "SIGKILL of one non-coordinator cmcld -> membership decided without it; idle CPU from /proc"
    )
    for size in (int(x) for x in args.sizes.split(",")):
        measure(size, args.runs, args.member_timeout, args.cpu_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
