"""Packages in the cluster view, model -> protobuf -> model, field by field."""

import dataclasses

from cluster.core.model import (
    ClusterView,
    NodeView,
    PackageNodeView,
    PackageView,
    QuorumView,
    ServiceView,
)
from cluster.pb.v1 import common_pb2, view_pb2
from cluster.transport.convert import (
    package_view_from_pb,
    package_view_to_pb,
    view_from_pb,
    view_to_pb,
)

PKG1 = PackageView(
    name="pkg1",
    status="up",
    state="running",
    auto_run=True,
    node="node1",
    type="failover",
    failover_policy="configured_node",
    failback_policy="manual",
    nodes=(
        PackageNodeView("node1", switching_enabled=True, failed_here=False, primary=True),
        PackageNodeView("node2", switching_enabled=False, failed_here=True, primary=False),
    ),
    services=(
        ServiceView("web", running=True, restarts=2, max_restarts="3", pid=4242),
        ServiceView("cron", running=False, restarts=0, max_restarts="unlimited"),
    ),
    monitored_subnets=("198.18.0.0/24", "198.18.1.0/24"),
    subnets_down=("198.18.1.0/24",),
    subnets_known=True,
    reason="",
)
MULTI = PackageView(
    name="agent",
    status="up",
    state="running",
    auto_run=False,
    node="",
    type="multi_node",
    failover_policy="configured_node",
    failback_policy="manual",
    running_on=("node1", "node2"),
    reason="not on node3: node switching disabled",
)
HALTED = dataclasses.replace(
    PKG1,
    name="db",
    status="down",
    state="halted",
    node="",
    auto_run=False,
    services=(),
    subnets_down=(),
    subnets_known=False,
)


def view(*packages: PackageView) -> ClusterView:
    return ClusterView(
        cluster_name="prod",
        running=True,
        epoch=7,
        members=("node1", "node2"),
        coordinator="node1",
        nodes=(NodeView("node1", "up", "running"), NodeView("node2", "up", "running")),
        quorum=QuorumView("qs", True, 0.5),
        reporting_node="node1",
        last_event="",
        lease_held=True,
        lease_remaining=4.0,
        config_generation=3,
        packages=packages,
    )


def test_every_package_field_survives_the_round_trip() -> None:
    kept = dataclasses.replace(PKG1, state="maintenance", maintenance="node1", ailing="x down")
    for package in (PKG1, MULTI, HALTED, kept):
        assert package_view_from_pb(package_view_to_pb(package)) == package


def test_packages_travel_in_the_cluster_view() -> None:
    original = view(PKG1, MULTI, HALTED)
    msg = view_to_pb(original)
    assert [p.package_name for p in msg.packages] == ["pkg1", "agent", "db"]
    assert msg.packages[0].status == common_pb2.PACKAGE_STATUS_UP
    assert msg.packages[2].state == common_pb2.PACKAGE_STATE_HALTED
    assert msg.packages[0].services[0].service_name == "web"
    back = view_from_pb(view_pb2.ClusterView.FromString(msg.SerializeToString()))
    assert back == original


def test_a_state_outside_the_enums_reads_back_as_unknown() -> None:
    odd = dataclasses.replace(PKG1, status="unknown", state="unknown")
    msg = package_view_to_pb(odd)
    assert msg.status == common_pb2.PACKAGE_STATUS_UNSPECIFIED
    assert msg.state == common_pb2.PACKAGE_STATE_UNSPECIFIED
    assert package_view_from_pb(msg) == odd
