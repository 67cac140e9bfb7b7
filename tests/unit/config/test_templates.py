"""Templates come from the declarations and parse once the required values are filled."""

import pytest

from cluster.config.params_package import PACKAGE_PARAMS
from cluster.config.templates import package_template, parse_modules, render_cluster_template
from cluster.core.model import Address, Interface, NodeInfo

from .helpers import THREE_NODES, check, messages

MODULE_SETS = [
    [],
    ["sg/failover"],
    ["sg/multi_node"],
    ["sg/multi_node", "sg/all"],
    ["basic", "sg/service", "sg/filesystem", "sg/package_ip"],
    ["sg/dependency", "cm/ocf", "sg/monitor_subnet", "sg/volume_group"],
]


def fill(template: str) -> str:
    """What an operator does first: uncomment package_name, name a node."""
    lines = template.split("\n")
    lines = ["node_name a" if line.startswith("#node_name ") else line for line in lines]
    return "\n".join(lines).replace("#package_name", "package_name")


@pytest.mark.parametrize("modules", MODULE_SETS, ids=lambda m: ",".join(m) or "default")
def test_package_template_needs_only_its_required_values(modules: list[str]) -> None:
    template = package_template(modules)
    assert sorted(messages(check(THREE_NODES, template))) == [
        "pkg1.conf: NODE_NAME is missing (a node that may run the package, in order of "
        "preference; * means every node)",
        "pkg1.conf: PACKAGE_NAME is missing (the package's name, unique in the cluster)",
    ]
    filled = check(THREE_NODES, fill(template)).raise_if_errors()
    package = filled.packages[0]
    assert (package.name, package.node_names) == ("pkg1", ("a",))
    assert package.type == ("multi_node" if "sg/multi_node" in modules else "failover")


def test_the_full_template_documents_every_package_parameter() -> None:
    template = package_template([])
    for param in PACKAGE_PARAMS:
        assert f" {param.keyword.lower()}: {param.doc}" in template
        for child in param.children:
            assert f" {child.keyword.lower()}: {child.doc}" in template


def test_module_choices() -> None:
    assert parse_modules(["SG/Service"]) == ("failover", ("service",))
    with pytest.raises(ValueError, match="unknown module 'sg/cfs'"):
        parse_modules(["sg/cfs"])
    with pytest.raises(ValueError, match="choose one base module"):
        parse_modules(["sg/failover", "sg/multi_node"])
    with pytest.raises(ValueError, match="sg/filesystem is for failover packages"):
        parse_modules(["sg/multi_node", "sg/filesystem"])


def node(name: str, host: int, data_up: bool = True) -> NodeInfo:
    def iface(iname: str, *addrs: tuple[str, str], up: bool = True, **kw: object) -> Interface:
        addresses = tuple(Address(a, 24, s, False, "global", False) for a, s in addrs)
        return Interface(
            iname,
            2,
            "02:00:00:00:00:01",
            1500,
            True,
            up,
            "UP",
            False,
            str(kw.get("master", "")),
            addresses,
        )

    loopback = Interface(
        "lo",
        1,
        "",
        65536,
        True,
        True,
        "UNKNOWN",
        True,
        "",
        (Address("127.0.0.1", 8, "127.0.0.0/8", False, "host", False),),
    )
    return NodeInfo(
        node_name=name,
        version="1",
        host_name=name,
        cluster_name="",
        pid=1,
        uptime_seconds=1.0,
        interfaces=(
            loopback,
            iface("eth0", (f"198.18.0.{host}", "198.18.0.0/24")),
            iface("eth1", (f"198.18.1.{host}", "198.18.1.0/24"), up=data_up),
            iface("eth2"),
            iface("eth3", master="br0"),
        ),
    )


def test_cluster_template_from_discovered_interfaces() -> None:
    infos = [node("a", 1), node("b", 2), node("c", 3, data_up=False)]
    text = render_cluster_template("shop", infos)
    assert "    NETWORK_INTERFACE           eth2    # standby: no address" in text
    assert "INTERFACE           eth3" not in text and "INTERFACE           lo" not in text
    assert "    NETWORK_INTERFACE           eth1    # link down" in text
    cluster = check(text).raise_if_errors().cluster
    a = cluster.nodes[0]
    assert [(i.name, i.heartbeat_ips, i.stationary_ips) for i in a.interfaces] == [
        ("eth0", ("198.18.0.1/24",), ()),
        ("eth1", (), ("198.18.1.1/24",)),  # c's link on this subnet is down: no heartbeat
        ("eth2", (), ()),
    ]
    assert cluster.name == "shop" and cluster.member_timeout_us == 14_000_000


def test_two_node_template_asks_for_a_quorum_server() -> None:
    infos = [node("a", 1), node("b", 2)]
    without = render_cluster_template("pair", infos)
    assert "set QS_HOST (cmquerycl -q)" in without
    assert any("needs a quorum server" in m for m in messages(check(without)))
    with_qs = render_cluster_template("pair", infos, qs_host="qs.example.com")
    assert check(with_qs).raise_if_errors().cluster.qs_host == "qs.example.com"
