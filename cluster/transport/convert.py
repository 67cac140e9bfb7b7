"""Model objects <-> protobuf messages, in one place for both directions."""

from cluster.core.model import Address, Interface, NodeInfo
from cluster.pb.v1 import node_pb2


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
