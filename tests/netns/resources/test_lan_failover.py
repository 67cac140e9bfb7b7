"""cmcld's local LAN failover (cluster/daemon/lan.py) on a lab host, without a cluster:
which networks the standby reaches, a move with the floating IPs that may follow and
the one that may not, gratuitous ARPs seen by a neighbour, and the way back."""

import json
from collections.abc import Iterator

import pytest

from tests.netns.lab import Lab
from tests.netns.resources.conftest import host_addresses, in_host

CLUSTER = """
cluster_name lab
node_name a
network_interface eth0
heartbeat_ip 198.18.0.10/24
network_interface eth1
heartbeat_ip 198.18.1.10/24
network_interface eth2
node_name b
network_interface eth0
heartbeat_ip 198.18.0.11/24
network_interface eth1
heartbeat_ip 198.18.1.11/24
network_interface eth2
"""

CODE = """
import dataclasses, subprocess
from cluster.config.build import build_cluster
from cluster.config.documents import cluster_document
from cluster.config.model import Config
from cluster.config.problems import Problems
from cluster.config.source import Source
from cluster.daemon.lan import LanFailover

problems = Problems()
config = Config(build_cluster(cluster_document(Source("c", ARGS["cluster"]), problems)))
assert not problems.errors, [str(p) for p in problems]
stranded = []

def sh(*argv):
    subprocess.run(argv, check=True)

def where():
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True).stdout
    return {l["ifname"]: sorted(a["local"] for a in l.get("addr_info", [])) for l in json.loads(out)
            if l["ifname"].startswith("eth")}

async def out():
    sh("ip", "addr", "add", "198.18.0.100/24", "dev", "eth0")
    sh("ip", "addr", "add", "198.18.0.101/24", "dev", "eth0")
    result["idle"] = len(lan.reconcile())
    await lan.measure()
    result["bridged"] = lan.bridged
    sh("ip", "link", "set", "eth0", "down")
    result["out"] = [dataclasses.astuple(m) for m in lan.reconcile()]
    result["again"] = len(lan.reconcile())
    result["moved"] = where()
    result["status"] = [dataclasses.astuple(s) for s in lan.status()]
    result["stranded"] = stranded
    await asyncio.sleep(0.6)  # the remaining gratuitous ARPs

async def back():  # a new cmcld: where the addresses are is read from the kernel
    sh("ip", "link", "set", "eth0", "up")
    result["back"] = [dataclasses.astuple(m) for m in lan.reconcile()]
    result["home"] = where()
    await asyncio.sleep(0.6)
    sh("ip", "addr", "del", "198.18.0.100/24", "dev", "eth0")

lan = LanFailover(
    "a",
    lambda: config,
    floating=lambda: {"198.18.0.100": ("pkg1", True), "198.18.0.101": ("pkg2", False)},
    on_stranded=lambda package, why: stranded.append([package, why]),
)
asyncio.run(out() if ARGS["phase"] == "out" else back())
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        lab.build(["a", "b"], networks=("lan", "hb", "standby"))
        yield lab


def neighbour_mac(lab: Lab, host: str, address: str) -> str:
    out = lab.run(host, ["ip", "-j", "neigh", "show", address]).stdout
    entries = json.loads(out or "[]")
    return str(entries[0].get("lladdr", "")) if entries else ""


def mac_of(lab: Lab, host: str, interface: str) -> str:
    return str(
        json.loads(lab.run(host, ["ip", "-j", "link", "show", interface]).stdout)[0]["address"]
    )


def test_moves_to_the_bridged_standby_and_back(lab: Lab) -> None:
    # b knows a's lan address at eth0's MAC before the move.
    assert lab.run("b", ["ping", "-c1", "-W1", "198.18.0.10"]).returncode == 0
    assert neighbour_mac(lab, "b", "198.18.0.10") == mac_of(lab, "a", "eth0")
    result = in_host(lab, "a", CODE, cluster=CLUSTER, phase="out")
    assert result["idle"] == 0
    # The standby is cabled to the lan's switch, not to the heartbeat network.
    assert result["bridged"] == {"eth2": {"eth0": True, "eth1": False}}
    assert result["out"] == [["eth0", "eth0", "eth2", "eth0 link down"]]
    assert result["again"] == 0
    moved = result["moved"]
    assert moved["eth2"] == ["198.18.0.10", "198.18.0.100"]
    # Not allowed to follow: left on eth0, where deleting eth0's primary address took it
    # (or promoted it); either way pkg2 fails here and moves elsewhere.
    assert "198.18.0.101" not in moved["eth2"] and "198.18.0.10" not in moved.get("eth0", [])
    assert result["stranded"] == [
        [
            "pkg2",
            "ip 198.18.0.101: eth0 link down and the package does not allow "
            "LOCAL_LAN_FAILOVER; it stays there",
        ]
    ]
    assert result["status"] == [
        ["eth0", False, False, "eth2"],
        ["eth1", False, True, ""],
        ["eth2", True, True, "eth0"],
    ]
    # The gratuitous ARPs sent from eth2 moved b's entry without b asking.
    assert neighbour_mac(lab, "b", "198.18.0.10") == mac_of(lab, "a", "eth2")
    result = in_host(lab, "a", CODE, cluster=CLUSTER, phase="back")
    assert result["back"] == [["eth0", "eth2", "eth0", "eth0 link up again"]]
    assert result["home"]["eth0"][:2] == ["198.18.0.10", "198.18.0.100"]
    assert not result["home"].get("eth2")
    assert neighbour_mac(lab, "b", "198.18.0.10") == mac_of(lab, "a", "eth0")
    assert host_addresses(lab, "a")["eth0"][0]["local"] == "198.18.0.10"
