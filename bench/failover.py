"""Outage a client sees on a package's floating address (MEMBER_TIMEOUT 1 s).

Usage: .venv/bin/python bench/failover.py [--runs 3] [--member-timeout 1] [--hung-alert]
(as root, after make zipapp)

--hung-alert adds an alert script that sleeps forever for every event (ALERT_SCRIPT,
applied online before the runs): the figures must not change, since alert scripts never
run on the failover path.

Three lab hosts run the built zipapp's cmcld; the package has a floating IP on the lan,
an ext4 filesystem on a shared disk with MMP and the TCP service of tests/netns/apps. A
client host connects to the floating address every 10 ms (100 ms timeout) and the
outage is the time from the last answer before the event to the first answer after it,
from another host. Each run measures, in turn:

  service failure   the service killed SERVICE_RESTART + 1 times; the outage of the last
                    kill, after which the package fails over
  manual switch     cmhaltpkg; cmrunpkg -n NODE; cmmodpkg -e (the package back home,
                    after cmmodpkg -e -n NODE cleared the failure there)
  host crash        the package has run SETTLE seconds (the adoptive hosts sample its
                    MMP block meanwhile, as they do all the time in production), then
                    the active host crashes (Lab.crash); the adoptive host resets the
                    MMP block the crashed host left in use once it has been quiet for
                    the longest gap seen between the holder's writes plus 0.5 s
                    (cluster/resources/mmp.py; printed separately: from the start of the
                    package to the mount), then the crashed host is rebooted and
                    rejoins, and a manual switch brings the package home again
  local LAN failover  the active host's lan cable is pulled (its switch port goes down)
                    and its standby interface takes over the lan addresses, floating IP
                    included; the longest outage the client saw (0 when none), and the
                    time from the pull to cmcld's move; then the cable is plugged back
                    and the addresses return (the longest outage then)

Commands, cmcld and the lab's Python apps run with the interpreter `python3` resolves
to (tests/support.host_python): on this machine `python3` on PATH is a pyenv shim that
adds ~50 ms to every start, which a manual switch (two commands, a service) would
count three times and a Debian host does not have.

The probe cannot see less than its own period: outages are accurate to about 10 ms,
and an attempt that meets an absent address costs its whole 100 ms timeout. All hosts
share this machine's CPUs; when a step does not complete, the bench says so instead of
printing a figure.
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import summary
from tests.netns.cluster import wait_for
from tests.netns.pkgsite import FLOATING, PKG, RESTARTS, Site, package_site

MT = 1.0
SETTLE = 4.0  # seconds a package runs before its host crashes


def move_outage(probe: dict[str, Any], to: str) -> float:
    """The outage after which the client first heard the service from host `to`."""
    for outage in probe["outages"]:
        if outage["after"].split(" ")[0] == to:
            seconds: float = outage["seconds"]
            return seconds
    raise AssertionError(f"the client never heard {to} after an outage: {probe}")


def service_failure(site: Site, home: str) -> tuple[float, str]:
    c = site.c
    for _ in range(RESTARTS):
        killed = site.wait_answer_from(home)
        os.kill(int(killed.split(" ")[1]), signal.SIGKILL)

        def restarted(old: str = killed) -> bool:
            return site.answer(0.2) not in ("", old)

        wait_for(restarted, 10, "the service restarted")
    probe = site.start_probe("service")
    os.kill(int(site.wait_answer_from(home).split(" ")[1]), signal.SIGKILL)
    view = c.wait_package(PKG, on=None, away_from=home, observer=home, timeout=20)
    site.wait_answer_from(view["node"], 10)
    return move_outage(site.stop_probe(probe), view["node"]), view["node"]


def manual_switch(site: Site, src: str, dst: str) -> float:
    c = site.c
    # Node switching on dst first: after a failure there, cmrunpkg -n dst is refused
    # until the operator clears it (Serviceguard's cmmodpkg -e -n NODE PKG).
    c.cm_ok(src, "cmmodpkg", "-e", "-n", dst, PKG)
    probe = site.start_probe("switch")
    c.cm_ok(src, "cmhaltpkg", PKG)
    c.cm_ok(src, "cmrunpkg", "-n", dst, PKG)
    c.cm_ok(src, "cmmodpkg", "-e", PKG)  # switching on, failure history cleared
    c.wait_package(PKG, on=dst, observer=src, timeout=20)
    site.wait_answer_from(dst, 10)
    return move_outage(site.stop_probe(probe), dst)


def host_crash(site: Site, home: str) -> tuple[float, float, str]:
    c = site.c
    observer = site.others(home)[0]
    time.sleep(SETTLE)
    probe = site.start_probe("crash")
    crashed_at = c.crash(home)
    view = c.wait_package(PKG, on=None, away_from=home, observer=observer, timeout=MT + 45)
    adoptive = view["node"]
    site.wait_answer_from(adoptive, 10)
    outage = move_outage(site.stop_probe(probe), adoptive)
    log = f"{PKG}.log"
    mmp = c.event_time(adoptive, r"mounted .* on ", crashed_at, log) - c.event_time(
        adoptive, r"starting package", crashed_at, log
    )
    c.reboot(home)
    c.cm_ok(home, "cmrunnode", home)
    wait_for(lambda: c.running_members(observer) == set(site.nodes), 30, "rejoined", 0.2)
    return outage, mmp, adoptive


def longest_outage(probe: dict[str, Any]) -> float:
    return max((float(o["seconds"]) for o in probe["outages"]), default=0.0)


def lan_failover(site: Site, home: str) -> tuple[float, float, float]:
    """(longest outage after the pull, pull -> moved, longest outage after the plug)."""
    c = site.c
    lan = {c.lab.host(home).addresses["lan"], FLOATING}

    def on(interface: str) -> bool:
        out = c.lab.run(home, ["ip", "-4", "-o", "addr", "show", "dev", interface]).stdout
        return all(f" {a}/" in out for a in lan)

    probe = site.start_probe("lan-out")
    pulled = time.time()
    c.lab.pull_cable(home, "lan")
    wait_for(lambda: on("eth2"), 10, "lan addresses on the standby", 0.02)
    moved, _ = c.event(home, r"local LAN failover: eth0 link down", pulled, wait=5)
    site.wait_answer_from(home, 10)
    time.sleep(1.0)
    out = longest_outage(site.stop_probe(probe))
    probe = site.start_probe("lan-back")
    c.lab.plug_cable(home, "lan")
    wait_for(lambda: on("eth0"), 10, "lan addresses back on eth0", 0.02)
    time.sleep(1.0)
    back = longest_outage(site.stop_probe(probe))
    return out, moved - pulled, back


def measure(runs: int, mt: float, hung_alert: bool = False) -> None:
    samples: dict[str, list[float]] = {
        "service": [],
        "switch": [],
        "crash": [],
        "mmp": [],
        "lan": [],
        "lan_move": [],
        "lan_back": [],
    }
    networks = ("lan", "hb", "standby")
    with tempfile.TemporaryDirectory(prefix="cmbench-") as scratch:
        try:
            with package_site(Path(scratch), member_timeout=mt, networks=networks) as site:
                home = site.nodes[0]
                if hung_alert:
                    add_hung_alert(site, Path(scratch))
                for run in range(1, runs + 1):
                    out, move, back = lan_failover(site, home)
                    samples["lan"].append(out)
                    samples["lan_move"].append(move)
                    samples["lan_back"].append(back)
                    seconds, moved_to = service_failure(site, home)
                    samples["service"].append(seconds)
                    samples["switch"].append(manual_switch(site, moved_to, home))
                    seconds, mmp, moved_to = host_crash(site, home)
                    samples["crash"].append(seconds)
                    samples["mmp"].append(mmp)
                    samples["switch"].append(manual_switch(site, moved_to, home))
                    print(f"  run {run}/{runs} done", flush=True)
        except AssertionError as exc:
            print("failed: " + " / ".join(str(exc).strip().splitlines()[:4]))
            print("(figures so far follow; this machine could not complete the runs)")
    labels = {
        "service": "service failure (restarts exhausted)",
        "switch": "manual switch (cmhaltpkg; cmrunpkg -n)",
        "crash": "active host crash",
        "mmp": "  of which start -> mounted (MMP)",
        "lan": "local LAN failover (cable pulled)",
        "lan_move": "  cable pulled -> addresses moved",
        "lan_back": "  cable plugged back",
    }
    for key, label in labels.items():
        if samples[key]:
            print(f"{label:<40} {summary(samples[key])}")
        else:
            print(f"{label:<40} not measured")


def add_hung_alert(site: Site, scratch: Path) -> None:
    """An alert for every event whose script never returns (killed after 10 minutes)."""
    hang = scratch / "hang.sh"
    hang.write_text("#!/bin/sh\nexec sleep 3600\n")
    hang.chmod(0o755)
    ascii_file = site.c.work / "cluster.ascii"
    ascii_file.write_text(ascii_file.read_text() + f"\nALERT_SCRIPT {hang}\n  ALERT_TIMEOUT 600s\n")
    site.c.cm_ok(site.nodes[1], "cmapplyconf", "-f", "-C", str(ascii_file))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--member-timeout", type=float, default=MT)
    parser.add_argument(
        "--hung-alert", action="store_true", help="with an alert script that never returns"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/failover.py needs root (network namespaces, loop devices)", file=sys.stderr)
        return 2
    print(
        f"Client outage on the floating address, MEMBER_TIMEOUT {args.member_timeout:g} s, "
        f"3 hosts, probe every 10 ms; {args.runs} runs ({time.strftime('%Y-%m-%d %H:%M')})"
        + ("; an alert script that never returns" if args.hung_alert else "")
    )
    measure(args.runs, args.member_timeout, args.hung_alert)
    return 0


if __name__ == "__main__":
    sys.exit(main())
