"""Benchmark: the full check of a 16-node, 300-package configuration.

Generates the files in memory, then times parse + validate + compile (what cmcheckconf
and cmapplyconf do before any RPC) several times and prints the median and spread.
Then a hostile file: the cluster file with one keyword repeated 100,000 times (each
repeat an error; the answer is capped at 100 problems and a count).

    .venv/bin/python bench/config.py [--runs N]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster.config.check import check_config
from cluster.config.compile import blob_bytes, make_blob
from cluster.config.source import PackageSource, Source

NODES = 16
PACKAGES = 300


def cluster_text() -> str:
    lines = ["CLUSTER_NAME bench", "QS_HOST qs.example.com", "MEMBER_TIMEOUT 14s"]
    for n in range(1, NODES + 1):
        lines += [
            f"NODE_NAME node{n:02d}",
            "  NETWORK_INTERFACE eth0",
            f"    HEARTBEAT_IP 198.18.0.{n}/24",
            "  NETWORK_INTERFACE eth1",
            f"    STATIONARY_IP 198.19.0.{n}/16",
            "  NETWORK_INTERFACE eth2",
        ]
    lines.append(f"MAX_CONFIGURED_PACKAGES {PACKAGES}")
    return "\n".join(lines) + "\n"


def package_text(i: int) -> str:
    first, second = i % NODES + 1, (i + 1) % NODES + 1
    lines = [
        f"package_name pkg{i:03d}",
        f"node_name node{first:02d}",
        f"node_name node{second:02d}",
        f"run_script /etc/cmcluster/pkg{i:03d}/start.sh",
        f"halt_script /etc/cmcluster/pkg{i:03d}/stop.sh",
        "run_script_timeout 2min",
        f"priority {i + 1}",
        "ip_subnet 198.19.0.0/16",
        f"  ip_address 198.19.{1 + i // 200}.{1 + i % 200}",
        f"vg vg{i:03d}",
        f"fs_name /dev/vg{i:03d}/data",
        f"  fs_directory /srv/pkg{i:03d}",
        "  fs_mount_opt -o noatime",
        f"service_name svc{i:03d}",
        f"  service_cmd /opt/app/bin/app --instance {i}",
        "  service_restart 3",
    ]
    if i % 2:
        lines += [
            f"dependency_name needs_pkg{i - 1:03d}",
            f"dependency_condition pkg{i - 1:03d} = UP",
            "dependency_location any_node",
        ]
    return "\n".join(lines) + "\n"


def one_check(cluster: Source, packages: list[PackageSource]) -> float:
    start = time.perf_counter()
    config = check_config(cluster, packages).raise_if_errors()
    blob_bytes(make_blob(config, generation=1))
    return time.perf_counter() - start


REPEATS = 100_000


def hostile_check(cluster: Source) -> tuple[float, int]:
    """Seconds to check the cluster file with CLUSTER_NAME given REPEATS more times."""
    text = cluster.text + "CLUSTER_NAME again\n" * REPEATS
    start = time.perf_counter()
    result = check_config(Source(cluster.path, text))
    return time.perf_counter() - start, len(result.problems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    cluster = Source("cluster.ascii", cluster_text())
    packages = [PackageSource(f"pkg{i:03d}.conf", package_text(i)) for i in range(PACKAGES)]
    size = len(cluster.text) + sum(len(p.text) for p in packages)
    one_check(cluster, packages)  # warm-up: imports and caches
    times = sorted(one_check(cluster, packages) for _ in range(args.runs))
    ms = [t * 1000 for t in times]
    print(
        f"cmcheckconf core (parse + validate + compile), {NODES} nodes, {PACKAGES} packages, "
        f"{size // 1024} KiB of text, {args.runs} runs:"
    )
    print(
        f"  median {statistics.median(ms):.1f} ms, min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms, "
        f"stdev {statistics.stdev(ms):.1f} ms"
    )
    hostile = sorted(hostile_check(cluster) for _ in range(3))
    print(
        f"the cluster file with CLUSTER_NAME repeated {REPEATS:,} times, 3 runs: median "
        f"{hostile[1][0] * 1000:.0f} ms, {hostile[1][1]} problems reported"
    )


if __name__ == "__main__":
    main()
