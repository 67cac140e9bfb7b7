"""cmviewcl's Network_Parameters (local LAN failover): table, line format, and the
interfaces' trip through protobuf."""

import dataclasses

from cluster.cli.cmviewcl import lines, table
from cluster.core.model import ClusterView, InterfaceView, PathView
from cluster.pb.v1 import view_pb2
from cluster.transport.convert import view_from_pb, view_to_pb
from tests.unit.test_convert_packages import view

INTERFACES = (
    InterfaceView("eth0", standby=False, up=False, carrying="eth2"),
    InterfaceView("eth1", standby=False, up=True),
    InterfaceView("eth2", standby=True, up=True, carrying="eth0"),
    InterfaceView("eth3", standby=True, up=False),
)


def moved() -> ClusterView:
    base = view()
    node1 = dataclasses.replace(
        base.nodes[0],
        interfaces=INTERFACES,
        paths=(PathView("node2", "198.18.1.0/24", "198.18.1.11", True),),
    )
    return dataclasses.replace(base, nodes=(node1, base.nodes[1]))


def test_verbose_table_shows_each_interface_and_where_its_addresses_are() -> None:
    text = table(moved(), verbose=True, level=None)
    expected = """\
    Network_Parameters:
    INTERFACE    STATUS       NAME       ADDRESSES
    PRIMARY      down         eth0       moved to eth2
    PRIMARY      up           eth1       here
    STANDBY      up           eth2       those of eth0
    STANDBY      down         eth3       none

    Heartbeat_Paths:"""
    assert expected in text
    assert "Network_Parameters" not in table(moved(), verbose=False, level=None)


def test_line_format_names_type_status_and_moves() -> None:
    out = lines(moved())
    assert [x for x in out if "|interface:" in x] == [
        "node:node1|interface:eth0|type=primary",
        "node:node1|interface:eth0|status=down",
        "node:node1|interface:eth0|moved_to=eth2",
        "node:node1|interface:eth1|type=primary",
        "node:node1|interface:eth1|status=up",
        "node:node1|interface:eth2|type=standby",
        "node:node1|interface:eth2|status=up",
        "node:node1|interface:eth2|carrying=eth0",
        "node:node1|interface:eth3|type=standby",
        "node:node1|interface:eth3|status=down",
    ]


def test_interfaces_travel_in_the_cluster_view() -> None:
    original = moved()
    msg = view_to_pb(original)
    back = view_from_pb(view_pb2.ClusterView.FromString(msg.SerializeToString()))
    assert back.nodes[0].interfaces == INTERFACES
    assert back == original
