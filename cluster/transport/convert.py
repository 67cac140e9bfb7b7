"""Model objects <-> protobuf messages, in one place for both directions."""

from cluster.core.model import (
    Address,
    ClusterView,
    Interface,
    InterfaceView,
    NodeInfo,
    NodeView,
    PackageNodeView,
    PackageView,
    PathView,
    QuorumView,
    ServiceView,
)
from cluster.pb.v1 import common_pb2, node_pb2, package_pb2, view_pb2


def node_info_to_pb(info: NodeInfo) -> node_pb2.NodeInfo:
    return node_pb2.NodeInfo(
        node_name=info.node_name,
        version=info.version,
        host_name=info.host_name,
        cluster_name=info.cluster_name,
        pid=info.pid,
        uptime_seconds=info.uptime_seconds,
        kernel=info.kernel,
        python=info.python,
        counters=info.counters,
        config_generation=info.config_generation,
        interfaces=[
            node_pb2.NetworkInterface(
                name=i.name,
                index=i.index,
                mac=i.mac,
                mtu=i.mtu,
                admin_up=i.admin_up,
                link_up=i.link_up,
                oper_state=i.oper_state,
                loopback=i.loopback,
                master=i.master,
                addresses=[
                    node_pb2.InterfaceAddress(
                        address=a.address,
                        prefix_len=a.prefix_len,
                        subnet=a.subnet,
                        ipv6=a.ipv6,
                        scope=a.scope,
                        secondary=a.secondary,
                    )
                    for a in i.addresses
                ],
            )
            for i in info.interfaces
        ],
    )


def node_info_from_pb(msg: node_pb2.NodeInfo) -> NodeInfo:
    return NodeInfo(
        node_name=msg.node_name,
        version=msg.version,
        host_name=msg.host_name,
        cluster_name=msg.cluster_name,
        pid=msg.pid,
        uptime_seconds=msg.uptime_seconds,
        kernel=msg.kernel,
        python=msg.python,
        counters=dict(msg.counters),
        config_generation=msg.config_generation,
        interfaces=tuple(
            Interface(
                name=i.name,
                index=i.index,
                mac=i.mac,
                mtu=i.mtu,
                admin_up=i.admin_up,
                link_up=i.link_up,
                oper_state=i.oper_state,
                loopback=i.loopback,
                master=i.master,
                addresses=tuple(
                    Address(
                        address=a.address,
                        prefix_len=a.prefix_len,
                        subnet=a.subnet,
                        ipv6=a.ipv6,
                        scope=a.scope,
                        secondary=a.secondary,
                    )
                    for a in i.addresses
                ),
            )
            for i in msg.interfaces
        ),
    )


_STATUS = {"up": common_pb2.NODE_STATUS_UP, "down": common_pb2.NODE_STATUS_DOWN}
_STATE = {
    "running": common_pb2.NODE_STATE_RUNNING,
    "halted": common_pb2.NODE_STATE_HALTED,
    "failed": common_pb2.NODE_STATE_FAILED,
    "starting": common_pb2.NODE_STATE_STARTING,
    "halting": common_pb2.NODE_STATE_HALTING,
    "unknown": common_pb2.NODE_STATE_UNKNOWN,
}
_STATUS_BACK = {v: k for k, v in _STATUS.items()}
_STATE_BACK = {v: k for k, v in _STATE.items()}
_PKG_STATUS = {"up": common_pb2.PACKAGE_STATUS_UP, "down": common_pb2.PACKAGE_STATUS_DOWN}
_PKG_STATE = {
    "halted": common_pb2.PACKAGE_STATE_HALTED,
    "starting": common_pb2.PACKAGE_STATE_STARTING,
    "running": common_pb2.PACKAGE_STATE_RUNNING,
    "halting": common_pb2.PACKAGE_STATE_HALTING,
    "failed": common_pb2.PACKAGE_STATE_FAILED,
    "maintenance": common_pb2.PACKAGE_STATE_MAINTENANCE,
}
_PKG_STATUS_BACK = {v: k for k, v in _PKG_STATUS.items()}
_PKG_STATE_BACK = {v: k for k, v in _PKG_STATE.items()}


def service_to_pb(service: ServiceView) -> package_pb2.ServiceReport:
    return package_pb2.ServiceReport(
        service_name=service.name,
        running=service.running,
        restarts=service.restarts,
        pid=service.pid,
        max_restarts=service.max_restarts,
    )


def service_from_pb(msg: package_pb2.ServiceReport) -> ServiceView:
    return ServiceView(
        name=msg.service_name,
        running=msg.running,
        restarts=msg.restarts,
        max_restarts=msg.max_restarts,
        pid=msg.pid,
    )


def package_view_to_pb(package: PackageView) -> view_pb2.PackageView:
    """Statuses and states outside the enums (such as "unknown") go as UNSPECIFIED."""
    return view_pb2.PackageView(
        package_name=package.name,
        status=_PKG_STATUS.get(package.status, common_pb2.PACKAGE_STATUS_UNSPECIFIED),
        state=_PKG_STATE.get(package.state, common_pb2.PACKAGE_STATE_UNSPECIFIED),
        auto_run=package.auto_run,
        node_name=package.node,
        failover_policy=package.failover_policy,
        failback_policy=package.failback_policy,
        nodes=[
            view_pb2.PackageNodeView(
                node_name=n.name,
                switching_enabled=n.switching_enabled,
                failed_here=n.failed_here,
                primary=n.primary,
            )
            for n in package.nodes
        ],
        services=[service_to_pb(s) for s in package.services],
        monitored_subnets=list(package.monitored_subnets),
        type=package.type,
        reason=package.reason,
        running_on=list(package.running_on),
        subnets_down=list(package.subnets_down),
        subnets_known=package.subnets_known,
        maintenance_node=package.maintenance,
        ailing=package.ailing,
    )


def package_view_from_pb(msg: view_pb2.PackageView) -> PackageView:
    return PackageView(
        name=msg.package_name,
        status=_PKG_STATUS_BACK.get(msg.status, "unknown"),
        state=_PKG_STATE_BACK.get(msg.state, "unknown"),
        auto_run=msg.auto_run,
        node=msg.node_name,
        type=msg.type,
        failover_policy=msg.failover_policy,
        failback_policy=msg.failback_policy,
        nodes=tuple(
            PackageNodeView(n.node_name, n.switching_enabled, n.failed_here, n.primary)
            for n in msg.nodes
        ),
        services=tuple(service_from_pb(s) for s in msg.services),
        monitored_subnets=tuple(msg.monitored_subnets),
        reason=msg.reason,
        running_on=tuple(msg.running_on),
        subnets_down=tuple(msg.subnets_down),
        subnets_known=msg.subnets_known,
        maintenance=msg.maintenance_node,
        ailing=msg.ailing,
    )


def view_to_pb(view: ClusterView) -> view_pb2.ClusterView:
    msg = view_pb2.ClusterView(
        cluster_name=view.cluster_name,
        running=view.running,
        membership=common_pb2.Membership(
            epoch=view.epoch, members=list(view.members), coordinator=view.coordinator
        ),
        nodes=[
            view_pb2.NodeView(
                node_name=n.name,
                status=_STATUS[n.status],
                state=_STATE[n.state],
                heartbeat_paths=[
                    view_pb2.HeartbeatPath(
                        network=p.network, peer=p.peer, peer_address=p.peer_address, up=p.up
                    )
                    for p in n.paths
                ],
                interfaces=[
                    view_pb2.NetworkInterfaceView(
                        name=i.name, standby=i.standby, up=i.up, carrying=i.carrying
                    )
                    for i in n.interfaces
                ],
            )
            for n in view.nodes
        ],
        reporting_node=view.reporting_node,
        last_event=view.last_event,
        lease_held=view.lease_held,
        lease_remaining_seconds=view.lease_remaining,
        config_generation=view.config_generation,
        packages=[package_view_to_pb(p) for p in view.packages],
    )
    if view.quorum is not None:
        msg.quorum_server.CopyFrom(
            view_pb2.QuorumServerView(
                host=view.quorum.host,
                configured=True,
                reachable=view.quorum.reachable,
                last_answer_age_seconds=view.quorum.last_answer_age,
            )
        )
    msg.warnings.extend(view.warnings)
    return msg


def view_from_pb(msg: view_pb2.ClusterView) -> ClusterView:
    qs = msg.quorum_server
    return ClusterView(
        cluster_name=msg.cluster_name,
        running=msg.running,
        epoch=msg.membership.epoch,
        members=tuple(msg.membership.members),
        coordinator=msg.membership.coordinator,
        nodes=tuple(
            NodeView(
                n.node_name,
                _STATUS_BACK.get(n.status, "unknown"),
                _STATE_BACK.get(n.state, "unknown"),
                tuple(PathView(p.peer, p.network, p.peer_address, p.up) for p in n.heartbeat_paths),
                tuple(InterfaceView(i.name, i.standby, i.up, i.carrying) for i in n.interfaces),
            )
            for n in msg.nodes
        ),
        quorum=QuorumView(qs.host, qs.reachable, qs.last_answer_age_seconds)
        if qs.configured
        else None,
        reporting_node=msg.reporting_node,
        last_event=msg.last_event,
        lease_held=msg.lease_held,
        lease_remaining=msg.lease_remaining_seconds,
        config_generation=msg.config_generation,
        warnings=tuple(msg.warnings),
        packages=tuple(package_view_from_pb(p) for p in msg.packages),
    )
