"""Packages on real hosts: a failover package with a floating IP on the lan, an ext4
filesystem on a shared disk with multi-mount protection, and a TCP service (plus a
writer in the chaos test), run by the built zipapp's cmcld on three lab hosts with
MEMBER_TIMEOUT 1 s. A client host probes the floating address every 10 ms.

Timing facts these tests live with (tests/netns/lab.py, MMP_UPDATE_INTERVAL): after a
host *crash* the adoptive host resets the MMP block the crashed holder left in use once
it has been quiet for about 1.7 s, counted from before the takeover as it samples the
block all along, or 2.5 s when it had no time to see the holder's writes
(cluster/resources/mmp.py; the kernel alone would wait about 22 s); after a clean halt
or a stop-now that unmounted, the disk mounts at once.
"""

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.netns.apps import writer
from tests.netns.cluster import LabCluster, wait_for
from tests.netns.pkgsite import (
    FLOATING,
    MT,
    NODES,
    PKG,
    RESTARTS,
    Watch,
    package_site,
    parent_of,
    split_outages,
)


def test_package_starts_on_its_first_node(tmp_path: Path) -> None:
    with package_site(tmp_path) as site:
        c = site.c
        view = c.package("n3", PKG)
        assert view["status"] == "up" and view["node"] == "n1", view
        (service,) = view["services"]
        host, pid = site.answer().split(" ")
        # cmcld runs SERVICE_CMD under /bin/sh -c: it shows the shell's PID, the
        # program answers with its own.
        assert host == "n1" and service["running"]
        assert service["pid"] in (int(pid), parent_of(int(pid))), (pid, service)
        assert site.holds("n1") == (True, True)
        assert site.holds("n2") == (False, False) and site.holds("n3") == (False, False)
        # cmhaltcl refuses while a package runs, and changes nothing; -f halts it too.
        refused = c.cm("n2", "cmhaltcl")
        out = refused.stdout + refused.stderr
        assert refused.returncode != 0 and "packages are running (pkg1)" in out, out
        assert "cmhaltcl -f" in out and "Traceback" not in out
        assert c.package("n3", PKG)["status"] == "up" and site.answer().startswith("n1 ")
        c.cm_ok("n2", "cmhaltcl", "-f")
        for node in NODES:

            def halted(n: str = node) -> bool:
                return not c.view(n)["running"]

            wait_for(halted, 20, f"cluster halted on {node}")
            assert site.holds(node) == (False, False)
        assert site.answer(0.3) == ""


def test_no_node_deletes_a_package_running_elsewhere(tmp_path: Path) -> None:
    """cmdeleteconf -p on nodes that neither run the package nor (at least one of them)
    coordinate: refused with where it runs, and nothing changes (issue 13 point 6)."""
    with package_site(tmp_path) as site:
        c = site.c
        before = c.cm_ok("n1", "cmviewconf")
        for node in ("n2", "n3"):
            refused = c.cm(node, "cmdeleteconf", "-f", "-p", PKG)
            out = refused.stdout + refused.stderr
            assert refused.returncode != 0, out
            assert f"package {PKG} runs on n1" in out and "Traceback" not in out, out
        for node in NODES:
            assert c.cm_ok(node, "cmviewconf") == before
        assert c.package("n2", PKG)["node"] == "n1" and site.answer().startswith("n1 ")
        assert site.holds("n1") == (True, True)


def test_manual_switch_as_the_operators_procedure_says(tmp_path: Path) -> None:
    """cmhaltpkg -v pkg; cmrunpkg -v -n other pkg; cmmodpkg -e pkg, from any host."""
    with package_site(tmp_path) as site:
        c = site.c
        probe = site.start_probe()
        site.wait_answer_from("n1")
        c.cm_ok("n3", "cmhaltpkg", "-v", PKG)
        halted = c.wait_package(PKG, on=None, observer="n2", state="halted", timeout=10)
        assert halted["status"] == "down" and not halted["auto_run"], halted
        assert site.holds("n1") == (False, False)
        assert site.answer(0.3) == ""
        c.cm_ok("n3", "cmrunpkg", "-v", "-n", "n2", PKG)
        c.wait_package(PKG, on="n2", observer="n1", timeout=10)
        c.cm_ok("n3", "cmmodpkg", "-e", PKG)
        wait_for(lambda: c.package("n1", PKG).get("auto_run") is True, 10, "switching on")
        assert site.wait_answer_from("n2", 10).startswith("n2 ")
        assert site.holds("n2") == (True, True) and site.holds("n1") == (False, False)
        summary = site.stop_probe(probe)
        assert summary["hosts"] == ["n1", "n2"], summary
        moves, blips = split_outages(summary)
        assert len(moves) == 1 and all(b["seconds"] < 0.5 for b in blips), summary


def test_service_restarts_then_the_package_fails_over(tmp_path: Path) -> None:
    with package_site(tmp_path) as site:
        c = site.c
        probe = site.start_probe()
        killed: list[int] = []
        for restart in range(1, RESTARTS + 1):
            host, pid = site.wait_answer_from("n1").split(" ")
            os.kill(int(pid), signal.SIGKILL)  # the service's own PID, as it reports it
            killed.append(int(pid))

            def restarted(n: int = restart) -> bool:
                services = c.package("n2", PKG).get("services", [])
                return bool(services) and services[0]["restarts"] == n and services[0]["running"]

            wait_for(restarted, 10, f"restart {restart} of {RESTARTS}")
            assert site.wait_answer_from("n1") != f"{host} {pid}"
        host, pid = site.wait_answer_from("n1").split(" ")
        os.kill(int(pid), signal.SIGKILL)  # restarts exhausted: the package fails over
        killed.append(int(pid))
        moved = c.wait_package(PKG, on="n2", observer="n3", timeout=15)
        assert site.wait_answer_from("n2", 10)
        assert site.holds("n1") == (False, False) and site.holds("n2") == (True, True)
        n1 = next(n for n in moved["nodes"] if n["name"] == "n1")
        assert n1["failed_here"], moved
        summary = site.stop_probe(probe)
        assert summary["hosts"] == ["n1", "n2"], summary
        servers = [int(s.split(" ")[1]) for s in summary["servers"]]
        assert servers[: len(killed)] == killed, summary  # each killed one answered before
        assert "restart" in c.file_log("n1", f"{PKG}.log")


def test_service_fail_fast_halts_the_node_and_the_package_moves(tmp_path: Path) -> None:
    """SERVICE_FAIL_FAST_ENABLED: the service failing for good (no restarts) halts its
    node at once, as Serviceguard's TOC: everything there stops now and cmcld exits
    without leaving; the others re-form without it and start the package."""
    with package_site(tmp_path, service_restart="none", service_fail_fast_enabled="yes") as site:
        c = site.c
        probe = site.start_probe()
        _, pid = site.wait_answer_from("n1").split(" ")
        os.kill(int(pid), signal.SIGKILL)
        daemon = c.daemons["n1"].process
        assert daemon.wait(10) == 70  # the fail-fast exit
        assert site.holds("n1") == (False, False)  # stop-now undid it before the exit
        moved = c.wait_package(PKG, on="n2", observer="n3", timeout=MT + 15)
        assert moved["status"] == "up"
        assert site.wait_answer_from("n2", 10).startswith("n2 ")
        assert c.states("n2")["n1"] in ("down/failed", "down/unknown")
        assert "SERVICE_FAIL_FAST_ENABLED: this node halts at once" in c.daemons["n1"].log()
        summary = site.stop_probe(probe)
        assert summary["hosts"] == ["n1", "n2"], summary


def test_monitored_subnet_down_moves_the_package_and_cmviewcl_shows_it(tmp_path: Path) -> None:
    """MONITORED_SUBNET: the package's node losing its link on that subnet (here the
    second network, which also carries heartbeats, so membership is unchanged) fails
    the package there within NETWORK_POLLING_INTERVAL; it starts on the next node."""
    hb = "198.18.1.0/24"
    with package_site(tmp_path, networks=("lan", "hb"), monitored_subnet=hb) as site:
        c = site.c
        line = f"package:{PKG}|subnet:{hb}|status="

        def subnet_status(observer: str) -> str:
            out = c.cm_ok(observer, "cmviewcl", "-v", "-f", "line")
            return next((x[len(line) :] for x in out.splitlines() if x.startswith(line)), "")

        wait_for(lambda: subnet_status("n3") == "up", 10, "subnet up in cmviewcl")
        c.lab.link_down("n1", "hb")
        moved = c.wait_package(PKG, on="n2", observer="n3", timeout=20)
        n1 = next(n for n in moved["nodes"] if n["name"] == "n1")
        assert n1["failed_here"], moved
        assert site.wait_answer_from("n2", 10).startswith("n2 ")
        assert c.running_members("n3") == set(NODES)  # heartbeats go on over the lan
        wait_for(lambda: subnet_status("n3") == "up", 10, "subnet up where it runs now")
        assert "monitored subnet 198.18.1.0/24 is down" in c.daemons["n1"].log()


def test_resource_lost_behind_our_back_fails_the_package_over(tmp_path: Path) -> None:
    """Resources are monitored while the package runs: the floating address deleted
    on n1 by hand is noticed within NETWORK_POLLING_INTERVAL, the package halts there
    (its filesystem unmounted cleanly) and starts on n2."""
    with package_site(tmp_path) as site:
        c = site.c
        site.wait_answer_from("n1")
        iface = c.lab.host("n1").interfaces["lan"]
        deleted = c.lab.run("n1", ["ip", "addr", "del", f"{FLOATING}/24", "dev", iface])
        assert deleted.returncode == 0, deleted.stderr
        moved = c.wait_package(PKG, on="n2", observer="n3", timeout=20)
        n1 = next(n for n in moved["nodes"] if n["name"] == "n1")
        assert n1["failed_here"], moved
        assert site.wait_answer_from("n2", 10).startswith("n2 ")
        assert site.holds("n1") == (False, False) and site.holds("n2") == (True, True)
        assert f"ip {FLOATING}" in c.file_log("n1", f"{PKG}.log") or f"ip {FLOATING}" in (
            c.daemons["n1"].log()
        )


@pytest.mark.slow
def test_host_crash_fails_over_and_failback_returns_it(tmp_path: Path) -> None:
    """n1 crashes (Lab.crash: off the network, every process killed, its addresses
    gone, the shared disk's MMP left as a crash leaves it); n2 takes the package and the
    client reaches the service at the same address; with FAILBACK_POLICY automatic it
    returns to n1 once n1 rejoins."""
    with package_site(tmp_path, failback_policy="automatic") as site:
        c = site.c
        probe = site.start_probe()
        site.wait_answer_from("n1")
        time.sleep(4)  # n2 samples n1's MMP block meanwhile and learns its write cadence
        crashed_at = c.crash("n1")
        c.wait_package(PKG, on="n2", observer="n3", timeout=MT + 20)
        site.wait_answer_from("n2", 10)
        mounted = c.event_time("n2", r"mounted .* on ", crashed_at, log=f"{PKG}.log")
        started = c.event_time("n2", r"starting package", crashed_at, log=f"{PKG}.log")
        # MMP: n1's block, left in use, stayed unchanged for the longest gap n2 saw
        # between n1's writes (1 s apart) plus 0.5 s, part of which had passed when
        # the takeover began, and was reset (mmp.py): not the kernel's 2 x 11 s wait
        # at mount, nor the 2 x 1 s + 0.5 s of a node that had seen nothing.
        _, line = c.event(
            "n2", r"MMP block of .*quiet window [\d.]+ s", crashed_at, log=f"{PKG}.log"
        )
        window = float(line.split("quiet window ")[1].split()[0])
        assert 1.5 <= window < 2.5, line
        assert mounted - started < window, (started, mounted, line)
        c.reboot("n1")
        c.cm_ok("n1", "cmrunnode", "n1")
        wait_for(lambda: c.running_members("n3") == set(NODES), 20, "n1 rejoined")
        c.wait_package(PKG, on="n1", observer="n3", timeout=20)
        site.wait_answer_from("n1", 10)
        assert site.holds("n2") == (False, False)
        summary = site.stop_probe(probe)
        assert summary["hosts"] == ["n1", "n2", "n1"], summary
        moves, blips = split_outages(summary)
        assert all(b["seconds"] < 0.5 for b in blips), summary
        crash, failback = moves
        assert crash["seconds"] > MT and failback["seconds"] < crash["seconds"], summary
        print(
            f"crash: client outage {crash['seconds']:.1f} s (start to mounted "
            f"{mounted - started:.1f} s, MMP quiet window {window:.1f} s); "
            f"failback outage {failback['seconds']:.2f} s; blips "
            f"{[round(b['seconds'], 3) for b in blips]}"
        )


def test_partitioned_host_halts_before_the_other_side_starts(tmp_path: Path) -> None:
    with package_site(tmp_path) as site:
        c = site.c
        with Watch(site, ("n1", "n2")) as watch:
            time.sleep(0.3)
            cut_at = time.time()
            c.lab.cut("n1", "n2")
            c.lab.cut("n1", "n3")
            c.wait_package(PKG, on="n2", observer="n3", timeout=MT + 10)
            site.wait_answer_from("n2", 10)
            time.sleep(0.5)
        assert watch.both() == []
        assert watch.last("n1") < watch.first("n2"), (watch.last("n1"), watch.first("n2"))
        stopped = c.event_time("n1", r"stop-now \(", cut_at)
        started = c.event_time("n2", r"added 198\.18\.0\.100", cut_at, log=f"{PKG}.log")
        assert stopped < started, (stopped, started)
        assert site.holds("n1") == (False, False)
        assert watch.macs()[-1] == site.mac("n2") and len(watch.macs()) <= 2, watch.macs()
        print(
            f"partition: n1 stopped {stopped - cut_at:.2f} s after the cut, "
            f"n2 added the address {started - cut_at:.2f} s after it"
        )


def test_frozen_cmcld_is_stopped_by_its_guard(tmp_path: Path) -> None:
    """SIGSTOP of n1's cmcld for 3 x MEMBER_TIMEOUT: n1's guard process stops the
    package (its cmcld cannot), the others take over, and the floating address never
    answers from two hosts: not in either host's `ip addr`, not in the client's ARP."""
    with package_site(tmp_path) as site:
        c = site.c
        probe = site.start_probe()
        site.wait_answer_from("n1")
        cmcld = c.daemons["n1"].process
        with Watch(site, ("n1", "n2")) as watch:
            time.sleep(0.3)
            frozen_at = time.time()
            c.lab.pause(cmcld)
            try:
                c.wait_package(PKG, on="n2", observer="n3", timeout=MT + 10)
                site.wait_answer_from("n2", 10)
                time.sleep(max(0.0, frozen_at + 3 * MT - time.time()))
            finally:
                c.lab.resume(cmcld)
            time.sleep(2 * MT)  # n1's cmcld wakes up: it must not bring anything back
        fired = c.event_time("n1", r"lease deadline passed without renewal", 0, "cmguard.log")
        started = c.event_time("n2", r"added 198\.18\.0\.100", frozen_at, log=f"{PKG}.log")
        assert frozen_at < fired < started, (frozen_at, fired, started)
        assert watch.both() == []
        assert watch.last("n1") < watch.first("n2")
        assert watch.macs() == [site.mac("n1"), site.mac("n2")], watch.macs()
        assert site.holds("n1") == (False, False)
        summary = site.stop_probe(probe)
        assert summary["hosts"] == ["n1", "n2"], summary
        print(
            f"frozen cmcld: guard fired {fired - frozen_at:.2f} s after SIGSTOP, "
            f"n2 took the address {started - frozen_at:.2f} s after it"
        )


CHAOS_SECONDS = 60.0


def _observer(c: LabCluster, exclude: set[str]) -> str:
    return next(n for n in NODES if n not in exclude)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_chaos_leaves_a_clean_disk_and_one_writer_at_a_time(tmp_path: Path) -> None:
    """Random host crashes (any number: each costs up to a 2.5 s MMP watch), partitions of the
    active or of another host, and freezes of the active host's cmcld, each repaired
    before the next, for CHAOS_SECONDS. Then the package is halted, `e2fsck -fn` of the
    shared disk must be clean, and the writer's file must show one writer at a time
    (tests/netns/apps/writer.py says exactly what that means)."""
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 30)))
    print(f"chaos seed {seed}: CHAOS_SEED={seed} replays the same choices")
    rng = random.Random(seed)
    with package_site(tmp_path, writer="yes") as site:
        c = site.c
        steps: list[str] = []
        active = "n1"
        end = time.monotonic() + CHAOS_SECONDS
        while time.monotonic() < end:
            faults = ["partition-active", "partition-other", "freeze-active"]
            fault = rng.choice([*faults, "crash-active"])
            victim = active if fault.endswith("-active") else rng.choice(site.others(active))
            observer = _observer(c, {victim})
            steps.append(f"{fault} {victim}")
            print(f"chaos step {len(steps)}: {fault} of {victim} (package on {active})")
            if fault.startswith("partition"):
                for peer in site.others(victim):
                    c.lab.cut(victim, peer)
            elif fault == "freeze-active":
                c.lab.pause(c.daemons[victim].process)
            else:
                c.crash(victim)
            try:
                time.sleep(rng.uniform(0.2, 1.5) * MT)
                if victim == active:
                    timeout = MT + 15
                    view = c.wait_package(
                        PKG, on=None, away_from=victim, observer=observer, timeout=timeout
                    )
                    active = view["node"]
                else:
                    time.sleep(2 * MT)
                    assert c.package(observer, PKG).get("node") == active
            except AssertionError:
                c.lab.heal()
                raise
            finally:
                if fault.startswith("partition"):
                    c.lab.heal()
                elif fault == "freeze-active":
                    c.lab.resume(c.daemons[victim].process)
            if fault == "crash-active":
                c.reboot(victim)
                c.cm_ok(victim, "cmrunnode", victim)

            def all_back(node: str = active) -> bool:
                return c.running_members(node) == set(NODES)

            back = wait_for(all_back, 30, "all members back")
            print(f"  all members back {back:.1f} s after the repair")
            c.wait_package(PKG, on=active, observer=active, timeout=15)
        c.cm_ok(active, "cmhaltpkg", PKG)
        c.wait_package(PKG, on=None, observer=active, state="halted", timeout=20)
        for node in NODES:
            assert site.holds(node) == (False, False), node
        fsck = subprocess.run(
            ["e2fsck", "-fn", str(site.disk.image)], capture_output=True, text=True, check=False
        )
        assert fsck.returncode == 0, f"steps {steps}:\n{fsck.stdout}{fsck.stderr}"
        text = subprocess.run(
            ["debugfs", "-R", "cat /writer.log", str(site.disk.image)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert writer.problems(text) == [], steps
        runs = writer.runs(text)
        assert len(runs) >= 1 + sum("-active" in step for step in steps), runs
        print(f"chaos: {len(steps)} steps {steps}; writer runs {runs}")


def test_cmcld_and_guard_frozen_together_then_resumed(tmp_path: Path) -> None:
    """Issue 13 point 8: SIGSTOP of n1's cmcld *and* its lease guard past MEMBER_TIMEOUT
    (a host frozen but for its kernel and the package's own processes). No watchdog
    here, so nothing stops n1's package; the adoptive nodes' duplicate-address probe
    finds the floating IP still answered by n1 and refuses it, which is a wait (retried
    with a back-off), not a failure. Once resumed, n1 stops (its lease is gone) and the
    package ends on exactly one node, with no failure on the nodes that waited."""
    with package_site(tmp_path) as site:
        c = site.c
        site.wait_answer_from("n1")
        cmcld = c.daemons["n1"].process
        status = c.root("n1") / "var/run/cmcluster/guard.json"
        guard_pid = int(json.loads(status.read_text())["pid"])
        assert guard_pid > 0 and guard_pid in c.lab.pids_in("n1")
        frozen_at = time.time()
        os.kill(guard_pid, signal.SIGSTOP)  # the guard this test's cmcld started
        c.lab.pause(cmcld)
        try:
            time.sleep(3 * MT)
            # Meanwhile n1 still holds the address: nobody else may have added it.
            assert site.holds("n2") == (False, False) and site.holds("n3") == (False, False)
        finally:
            c.lab.resume(cmcld)
            os.kill(guard_pid, signal.SIGCONT)
        seen: dict[str, object] = {}

        def running_somewhere() -> bool:
            nonlocal seen
            seen = c.package("n3", PKG, timeout=10)
            return seen.get("state") == "running" and bool(seen.get("node"))

        wait_for(running_somewhere, 30, f"{PKG} running again")
        host = str(seen["node"])
        site.wait_answer_from(host, 10)
        holders = [n for n in NODES if site.holds(n) != (False, False)]
        assert holders == [host], holders
        for node in NODES:
            failed = [n["name"] for n in c.package(node, PKG)["nodes"] if n.get("failed_here")]
            assert failed == [], (node, failed)
        logs = " ".join(c.log(n) for n in ("n2", "n3"))
        assert "for now" in logs and "already in use on the network" in logs
        print(f"frozen {3 * MT:.0f} s: {PKG} runs on {host} {time.time() - frozen_at:.1f} s in")
