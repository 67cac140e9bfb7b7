"""cmcheckconf -C: each node's NETWORK_INTERFACEs and addresses must exist on it."""

from collections.abc import Mapping, Sequence

from cluster.config.check import check_config
from cluster.config.source import Source
from cluster.core.model import Address, Interface

from .helpers import dedent

CLUSTER = """
CLUSTER_NAME c1
QS_HOST qs
NODE_NAME a
  NETWORK_INTERFACE eth0
    HEARTBEAT_IP 198.18.0.1/24
  NETWORK_INTERFACE eth1
    STATIONARY_IP 198.18.1.1/24
  NETWORK_INTERFACE eth2
NODE_NAME b
  NETWORK_INTERFACE eth0
    HEARTBEAT_IP 198.18.0.2/24
  NETWORK_INTERFACE eth1
    STATIONARY_IP 198.18.1.2/24
  NETWORK_INTERFACE eth2
"""


def interface(name: str, *addresses: str) -> Interface:
    return Interface(
        name,
        1,
        "02:00:00:00:00:01",
        1500,
        True,
        True,
        "up",
        False,
        "",
        tuple(Address(a, 24, "", False, "global", False) for a in addresses),
    )


class Hosts:
    """What the nodes say they have; a node missing here cannot be asked."""

    def __init__(self, **hosts: Sequence[Interface]) -> None:
        self.hosts = hosts
        self.asked: list[Sequence[str]] = []

    def interfaces(self, nodes: Sequence[str]) -> Mapping[str, Sequence[Interface] | str]:
        self.asked.append(nodes)
        return {n: self.hosts.get(n, "connection refused") for n in nodes}


def check(hosts: Hosts, text: str = CLUSTER) -> list[str]:
    result = check_config(Source("cluster.ascii", dedent(text)), network_checker=hosts)
    return [str(p) for p in result.problems]


def good_a() -> list[Interface]:
    return [
        interface("eth0", "198.18.0.1"),
        interface("eth1", "198.18.1.1"),
        interface("eth2"),
    ]


def good_b() -> list[Interface]:
    return [
        interface("eth0", "198.18.0.2"),
        interface("eth1", "198.18.1.2"),
        interface("eth2"),
    ]


def test_a_matching_cluster_passes_and_each_node_is_asked_once() -> None:
    hosts = Hosts(a=good_a(), b=good_b())
    assert check(hosts) == []
    assert hosts.asked == [("a", "b")]


def test_a_missing_interface_names_the_file_line_and_what_the_node_has() -> None:
    b = [i for i in good_b() if i.name != "eth2"]
    assert check(Hosts(a=good_a(), b=b)) == [
        "cluster.ascii:14: NETWORK_INTERFACE eth2: node b has no such interface (it has eth0, eth1)"
    ]


def test_an_address_on_no_interface_or_on_the_wrong_one() -> None:
    a = [interface("eth0"), interface("eth1", "198.18.1.1", "198.18.0.1"), interface("eth2")]
    b = [interface("eth0", "198.18.0.9"), interface("eth1", "198.18.1.2"), interface("eth2")]
    assert check(Hosts(a=a, b=b)) == [
        "cluster.ascii:5: HEARTBEAT_IP 198.18.0.1/24: it is on eth1 of node a, not on eth0",
        "cluster.ascii:11: HEARTBEAT_IP 198.18.0.2/24: not an address of node b",
    ]


def test_addresses_moved_to_a_standby_by_local_lan_failover_are_fine() -> None:
    a = [interface("eth0"), interface("eth1", "198.18.1.1"), interface("eth2", "198.18.0.1")]
    assert check(Hosts(a=a, b=good_b())) == []


def test_a_node_that_cannot_be_asked_is_a_warning() -> None:
    assert check(Hosts(a=good_a())) == [
        "cluster.ascii:9: warning: could not check the networks of node b: connection refused"
    ]


def test_without_a_cluster_file_nothing_is_asked() -> None:
    hosts = Hosts()
    check_config(None, network_checker=hosts)
    assert hosts.asked == []
