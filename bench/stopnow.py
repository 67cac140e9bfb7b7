"""How fast a node lets go, and how fast a floating IP arrives (root; lab namespaces).

Usage: .venv/bin/python bench/stopnow.py [--runs N]

stop-now: a stand-in cmcld on a lab host starts a package (floating IP, ext4 on a loop
device with one extra process using it, a service with a child) and the guard; then it
stops renewing a 1 s lease (STOP_MARGIN 200 ms). Printed: how long the guard's
stop-now took, the package's time and its bound (what stop-now allows it, from which
STOP_MARGIN is derived), per action kind, and how long before the deadline it finished.

floating IP start: probe (3 probes 50 ms apart + 100 ms), add, first gratuitous ARP,
with the client namespace timing the ARPs it receives.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import summary
from cluster.resources import procs
from tests.netns.lab import Lab
from tests.netns.resources.conftest import Loops, host_env, in_host, wait_for


def stop_now_run(base: Path) -> dict[str, float]:
    loops = Loops(base / "images")
    loops.directory.mkdir(parents=True)
    ready: dict[str, int] = {}
    try:
        device = loops.attach(loops.image("pkg", 32, ["mkfs.ext4", "-q", "-F"]))
        mnt = base / "mnt"
        mnt.mkdir()
        args = {
            "root": str(base / "root"),
            "node": "a",
            "vip": "198.18.0.100",
            "device": device,
            "mount_point": str(mnt),
            "service_cmd": f"cd {mnt} && sleep 300 & exec sleep 300",
            "lease_ms": 1000,
            "margin_ms": 200,
            "renew_ms": 100,
            "stop_file": str(base / "stop"),
            "watchdog": "",
        }
        with Lab() as lab:
            lab.build(["a"], client=False)
            out = base / "cmcld.out"
            command = [sys.executable, "-m", "tests.netns.resources.fake_cmcld", json.dumps(args)]
            lab.start("a", command, host_env(), out)
            wait_for(lambda: '"ready"' in out.read_text(), 20, "cmcld")
            ready = json.loads(next(x for x in out.read_text().splitlines() if '"ready"' in x))
            lab.start("a", ["sh", "-c", f"cd {mnt} && exec sleep 300"], {}, base / "user.log")
            time.sleep(0.2)
            (base / "stop").touch()
            fired = base / "root/var/lib/cmcluster/stopnow.fired.json"
            wait_for(fired.exists, 5, "the guard")
            record = json.loads(fired.read_text())
    finally:
        loops.close()
        if ready.get("guard_pid") and procs.alive(ready["guard_pid"]):
            os.kill(ready["guard_pid"], signal.SIGKILL)
    report = record["report"]
    figures = {"total": report["elapsed_ms"] / 1e3, "before_deadline": -record["late_ns"] / 1e9}
    figures["package"] = max(report["packages_ms"].values()) / 1e3  # packages stop side by side
    figures["bound"] = max(record["bounds_ms"].values()) / 1e3  # what the executor allows it
    for outcome in report["outcomes"]:
        assert outcome["ok"], outcome
        figures[outcome["kind"]] = outcome["elapsed_ns"] / 1e9
    return figures


GARP = """
from cluster.resources.ip import FloatingIP
async def main():
    ip = FloatingIP("198.18.0.100", arp_count=3, arp_interval=0.2)
    result["began"] = time.monotonic()
    await ip.start(context())
    result["started"] = time.monotonic()
    await asyncio.sleep(0.5)
    await ip.stop(context())
asyncio.run(main())
"""


def garp_run(base: Path) -> dict[str, float]:
    with Lab() as lab:
        lab.build(["a"])
        log = base / "arp.log"
        watch = [sys.executable, "-m", "tests.netns.resources.arpwatch", "eth0", "2"]
        watcher = lab.start("client", watch, host_env(), log)
        wait_for(lambda: "READY" in log.read_text(), 10, "the watcher")
        result = in_host(lab, "a", GARP)
        watcher.wait(10)
    packets = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    garps = [p["t"] for p in packets if p["sender_ip"] == p["target_ip"] == "198.18.0.100"]
    return {
        "start": result["started"] - result["began"],
        "first_garp": garps[0] - result["began"],
        "gap": garps[1] - garps[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/stopnow.py needs root (network namespaces, loop devices)", file=sys.stderr)
        return 2
    subprocess.run(["packaging/host-deps.sh"], check=True)
    stops, garps = [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="cmbench-") as scratch:
            stops.append(stop_now_run(Path(scratch)))
        with tempfile.TemporaryDirectory(prefix="cmbench-") as scratch:
            garps.append(garp_run(Path(scratch)))
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    print(f"stop-now by the guard (IP + ext4 with 2 users + service), {args.runs} runs")
    keys = ("total", "package", "bound", "kill_group", "delete_address", "unmount")
    for key in (*keys, "before_deadline"):
        print(f"  {key:<16} {summary([s[key] for s in stops])}")
    print(f"floating IP start, {args.runs} runs")
    labels = {"start": "probe+add+GARP", "first_garp": "1st GARP seen", "gap": "GARP spacing"}
    for key, label in labels.items():
        print(f"  {label:<16} {summary([g[key] for g in garps])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
