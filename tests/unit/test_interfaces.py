"""Interface discovery over rtnetlink agrees with iproute2."""

import json
import shutil
import subprocess

import pytest

from cluster.core.model import Address, Interface, NodeInfo
from cluster.network.interfaces import read_interfaces
from cluster.network.subnets import heartbeat_candidates, shared_subnets


@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 not installed")
def test_netlink_matches_ip_command() -> None:
    ours = {i.name: i for i in read_interfaces()}
    theirs = json.loads(
        subprocess.run(["ip", "-j", "addr"], capture_output=True, check=True).stdout
    )
    assert set(ours) == {link["ifname"] for link in theirs}
    for link in theirs:
        mine = ours[link["ifname"]]
        assert mine.index == link["ifindex"]
        assert mine.mtu == link["mtu"]
        assert mine.admin_up == ("UP" in link["flags"])
        assert mine.loopback == ("LOOPBACK" in link["flags"])
        assert mine.oper_state == link["operstate"].lower()
        if "address" in link and link.get("link_type") != "none":
            assert mine.mac == link["address"]
        expected = {(a["local"], a["prefixlen"]) for a in link.get("addr_info", [])}
        assert {(a.address, a.prefix_len) for a in mine.addresses} == expected


def node(name: str, *ifaces: tuple[str, bool, list[str]]) -> NodeInfo:
    interfaces = []
    for index, (ifname, up, addrs) in enumerate(ifaces, 2):
        addresses = []
        for text in addrs:
            addr, _, prefix = text.partition("/")
            import ipaddress

            net = ipaddress.ip_interface(text).network
            addresses.append(
                Address(addr, int(prefix), str(net), net.version == 6, "global", False)
            )
        interfaces.append(
            Interface(
                ifname,
                index,
                "",
                1500,
                True,
                up,
                "up" if up else "down",
                False,
                "",
                tuple(addresses),
            )
        )
    lo = Interface(
        "lo",
        1,
        "",
        65536,
        True,
        True,
        "unknown",
        True,
        "",
        (Address("127.0.0.1", 8, "127.0.0.0/8", False, "host", False),),
    )
    return NodeInfo(name, "0", name, "", 1, 0.0, (lo, *interfaces))


def test_shared_subnets_and_heartbeat_candidates() -> None:
    a = node("a", ("eth0", True, ["198.18.1.1/24"]), ("eth1", True, ["198.18.2.1/24"]))
    b = node("b", ("eth0", True, ["198.18.1.2/24"]), ("eth1", False, ["198.18.2.2/24"]))
    c = node("c", ("eth0", True, ["198.18.1.3/24"]), ("eth2", True, ["198.18.9.3/24"]))
    nets = shared_subnets([a, b, c])
    assert [n.subnet for n in nets] == ["198.18.1.0/24", "198.18.2.0/24", "198.18.9.0/24"]
    assert [x.node for x in nets[0].attachments] == ["a", "b", "c"]
    # 198.18.2.0/24 is down on b and missing on c: only the first connects everyone.
    assert [n.subnet for n in heartbeat_candidates([a, b, c])] == ["198.18.1.0/24"]


def test_loopback_and_floating_addresses_are_left_out() -> None:
    a = node("a", ("eth0", True, ["198.18.1.1/24"]))
    iface = a.interfaces[1]
    floating = Address("198.18.1.100", 24, "198.18.1.0/24", False, "global", True)
    a = NodeInfo(
        "a",
        "0",
        "a",
        "",
        1,
        0.0,
        (
            a.interfaces[0],
            Interface(
                iface.name,
                iface.index,
                "",
                1500,
                True,
                True,
                "up",
                False,
                "",
                (*iface.addresses, floating),
            ),
        ),
    )
    [net] = shared_subnets([a])
    assert [x.address for x in net.attachments] == ["198.18.1.1"]
