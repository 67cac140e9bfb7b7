"""Local LAN failover on real hosts, as the reference notes describe it: each node has a
lan interface (eth0, the floating IP's subnet), a heartbeat interface (eth1) and a
standby with no address (eth2) on a switch joined to the lan's. When a node's lan
interface loses its carrier, the standby takes over its addresses, the floating IP
with them, and they return when the carrier does: the package stays where it is and
the membership does not change.
"""

import json
import re
import time
from pathlib import Path

from tests.netns.cluster import LabCluster, wait_for
from tests.netns.pkgsite import FLOATING, PKG, Site, package_site

NETWORKS = ("lan", "hb", "standby")


def addresses(c: LabCluster, host: str) -> dict[str, set[str]]:
    """interface -> its IPv4 addresses, on `host`."""
    out = c.lab.run(host, ["ip", "-j", "-4", "addr"]).stdout
    return {
        link["ifname"]: {a["local"] for a in link.get("addr_info", [])} for link in json.loads(out)
    }


def carried(c: LabCluster, host: str, interface: str, wanted: set[str]) -> bool:
    """`wanted` all on `interface` and nowhere else on the host."""
    found = addresses(c, host)
    return wanted <= found.get(interface, set()) and not any(
        wanted & held for name, held in found.items() if name != interface
    )


def epochs(c: LabCluster) -> set[int]:
    return {c.view(n)["epoch"] for n in c.nodes}


def running_on(site: Site, node: str) -> None:
    view = site.c.package("n3", PKG)
    assert view["state"] == "running" and view["node"] == node, view
    assert not any(n["failed_here"] for n in view["nodes"]), view


def test_lan_interface_fails_over_to_the_standby_and_back(tmp_path: Path) -> None:
    with package_site(tmp_path, networks=NETWORKS) as site:
        c = site.c
        n1 = c.lab.host("n1")
        lan = {n1.addresses["lan"], FLOATING}
        (epoch,) = epochs(c)
        probe = site.start_probe()
        pulled = time.time()
        c.lab.pull_cable("n1", "lan")
        took = wait_for(lambda: carried(c, "n1", "eth2", lan), 10, "lan addresses on eth2", 0.02)
        site.wait_answer_from("n1", 10)
        stamp, line = c.event(
            "n1", r"local LAN failover: eth0 link down; .* moved from eth0 to eth2", pulled, wait=5
        )
        assert f"{n1.addresses['lan']}, {FLOATING} ({PKG})" in line, line
        verbose = c.ok("n1", "cmviewcl", "-v")
        assert re.search(r"PRIMARY\s+down\s+eth0\s+moved to eth2", verbose), verbose
        assert re.search(r"STANDBY\s+up\s+eth2\s+those of eth0", verbose), verbose
        assert re.search(r"PRIMARY\s+up\s+eth1\s+here", verbose), verbose
        lines = c.ok("n1", "cmviewcl", "-f", "line")
        assert "node:n1|interface:eth0|moved_to=eth2" in lines, lines
        time.sleep(2 * site.c.member_timeout)  # long enough for any reformation
        assert epochs(c) == {epoch}
        running_on(site, "n1")

        plugged = time.time()
        c.lab.plug_cable("n1", "lan")
        back = wait_for(lambda: carried(c, "n1", "eth0", lan), 10, "lan addresses on eth0", 0.02)
        c.event(
            "n1", r"local LAN failover: eth0 link up again; .* moved from eth2 to eth0", plugged
        )
        site.wait_answer_from("n1", 10)
        time.sleep(2 * site.c.member_timeout)
        summary = site.stop_probe(probe)
        assert epochs(c) == {epoch}
        running_on(site, "n1")
        assert summary["hosts"] == ["n1"], summary
        longest = max((o["seconds"] for o in summary["outages"]), default=0.0)
        print(
            f"\nlocal LAN failover: moved {stamp - pulled:.3f} s after the cable pull "
            f"(seen {took:.2f} s), back {back:.2f} s after the plug; "
            f"client outages {[round(o['seconds'], 3) for o in summary['outages']]} s"
        )
        assert longest < 1.0, summary


def test_a_standby_serves_only_the_network_it_is_bridged_to(tmp_path: Path) -> None:
    """The standby is cabled to the lan's switch: measured as such, it does not take
    over the heartbeat interface, whose failure leaves the membership as it is (the lan
    carries heartbeats too)."""
    with package_site(tmp_path, networks=NETWORKS) as site:
        c = site.c
        n2 = c.lab.host("n2")
        wait_for(
            lambda: (
                "standby eth2 does NOT reach the network of eth1" in c.file_log("n2", "cmcld.log")
            ),
            40,
            "n2 measured its standby",
        )
        assert "standby eth2 reaches the network of eth0" in c.file_log("n2", "cmcld.log")
        (epoch,) = epochs(c)
        c.lab.pull_cable("n2", "hb")
        time.sleep(2 * c.member_timeout)
        assert carried(c, "n2", "eth1", {n2.addresses["hb"]})
        assert not addresses(c, "n2").get("eth2")
        assert epochs(c) == {epoch}
        running_on(site, "n1")
        c.lab.plug_cable("n2", "hb")


def test_a_package_without_local_lan_failover_moves_to_another_node(tmp_path: Path) -> None:
    """LOCAL_LAN_FAILOVER_ALLOWED no: the node's stationary address still moves to the
    standby, but the package's floating IP does not; the package fails over instead."""
    with package_site(tmp_path, networks=NETWORKS, local_lan_failover_allowed="no") as site:
        c = site.c
        n1 = c.lab.host("n1")
        (epoch,) = epochs(c)
        pulled = time.time()
        c.lab.pull_cable("n1", "lan")
        moved = c.wait_package(PKG, on="n2", observer="n3", timeout=20)
        site.wait_answer_from("n2", 10)
        n1_view = next(n for n in moved["nodes"] if n["name"] == "n1")
        assert n1_view["failed_here"], moved
        assert carried(c, "n1", "eth2", {n1.addresses["lan"]})
        assert FLOATING not in set().union(*addresses(c, "n1").values())
        c.event("n1", r"LOCAL_LAN_FAILOVER", pulled, wait=5)
        assert epochs(c) == {epoch}
        c.lab.plug_cable("n1", "lan")
        wait_for(lambda: carried(c, "n1", "eth0", {n1.addresses["lan"]}), 10, "back on eth0")
