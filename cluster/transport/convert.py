"""Model objects <-> protobuf messages, in one place for both directions."""

from cluster.core.model import (
    Address,
    ClusterView,
    Interface,
    NodeInfo,
    NodeView,
    PathView,
    QuorumView,
)
from cluster.pb.v1 import common_pb2, node_pb2, view_pb2


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
            )
            for n in view.nodes
        ],
        reporting_node=view.reporting_node,
        last_event=view.last_event,
        lease_held=view.lease_held,
        lease_remaining_seconds=view.lease_remaining,
        config_generation=view.config_generation,
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
    )
