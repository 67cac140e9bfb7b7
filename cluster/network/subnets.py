"""Which nodes share which IP subnets: the basis of heartbeat and stationary IPs.

Pure functions over NodeInfo, used by cmquerycl to show the networks and, with -C, to
fill in a cluster template.
"""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cluster.core.model import NodeInfo


@dataclass(frozen=True)
class Attachment:
    node: str
    interface: str
    address: str
    link_up: bool


@dataclass(frozen=True)
class Subnet:
    subnet: str
    ipv6: bool
    attachments: tuple[Attachment, ...]  # in node order, then interface order

    def nodes(self) -> set[str]:
        return {a.node for a in self.attachments}


def shared_subnets(infos: Sequence[NodeInfo]) -> list[Subnet]:
    """Every global-scope subnet of the nodes, IPv4 first, in address order.

    Loopback, link-local and host-scope addresses are left out: they cannot carry
    traffic between nodes. Secondary addresses (floating IPs) are left out too.
    """
    found: dict[str, list[Attachment]] = {}
    ipv6: dict[str, bool] = {}
    for info in infos:
        for iface in info.interfaces:
            if iface.loopback:
                continue
            for addr in iface.addresses:
                if addr.scope != "global" or addr.secondary:
                    continue
                found.setdefault(addr.subnet, []).append(
                    Attachment(info.node_name, iface.name, addr.address, iface.link_up)
                )
                ipv6[addr.subnet] = addr.ipv6
    nets = sorted(found, key=lambda s: (ipv6[s], ipaddress.ip_network(s)))
    return [Subnet(net, ipv6[net], tuple(found[net])) for net in nets]


def heartbeat_candidates(infos: Sequence[NodeInfo]) -> list[Subnet]:
    """Subnets on which every node has an address on a link that is up."""
    names = {info.node_name for info in infos}
    return [
        net
        for net in shared_subnets(infos)
        if {a.node for a in net.attachments if a.link_up} == names
    ]
