"""This host's network interfaces with their addresses and subnets (cmquerycl's input)."""

import ipaddress
import socket

from cluster.core.model import Address, Interface
from cluster.network import netlink


def read_interfaces() -> list[Interface]:
    """Every interface of the current network namespace, ordered by index."""
    links = netlink.dump_links()
    names = {link.index: link.name for link in links}
    by_index: dict[int, list[Address]] = {}
    for raw in netlink.dump_addresses():
        network = ipaddress.ip_interface(f"{raw.address}/{raw.prefix_len}").network
        by_index.setdefault(raw.index, []).append(
            Address(
                address=raw.address,
                prefix_len=raw.prefix_len,
                subnet=str(network),
                ipv6=raw.family == socket.AF_INET6,
                scope=netlink.SCOPES.get(raw.scope, str(raw.scope)),
                secondary=bool(raw.flags & netlink.IFA_F_SECONDARY),
            )
        )
    return [
        Interface(
            name=link.name,
            index=link.index,
            mac=link.mac,
            mtu=link.mtu,
            admin_up=bool(link.flags & netlink.IFF_UP),
            link_up=bool(link.flags & netlink.IFF_LOWER_UP),
            oper_state=link.oper_state,
            loopback=bool(link.flags & netlink.IFF_LOOPBACK),
            master=names.get(link.master, "") if link.master else "",
            addresses=tuple(by_index.get(link.index, ())),
        )
        for link in sorted(links, key=lambda link: link.index)
    ]
