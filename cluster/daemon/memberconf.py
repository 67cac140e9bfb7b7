"""What the membership takes from the applied configuration: this node's heartbeat
paths to every peer and the protocol's timing (DESIGN.md section 2)."""

import ipaddress

from cluster.config.model import Config
from cluster.config.stopbound import stop_margin_ns
from cluster.core.timing import Timing
from cluster.network.interfaces import read_interfaces
from cluster.transport.heartbeat import PathSpec

US = 1000  # configuration times are microseconds, the core's nanoseconds


def heartbeat_paths(config: Config, me: str) -> list[PathSpec]:
    """Our heartbeat paths to every peer: pairs of HEARTBEAT_IPs on one subnet. An
    address written without its prefix takes it from this host's interface."""
    mine = config.cluster.node(me)
    if mine is None:
        return []
    local_nets: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
    for iface in read_interfaces():
        for a in iface.addresses:
            local_nets[a.address] = ipaddress.ip_interface(f"{a.address}/{a.prefix_len}").network
    ours = []
    for ip in mine.heartbeat_ips:
        addr = ip.split("/")[0]
        net = ipaddress.ip_interface(ip).network if "/" in ip else local_nets.get(addr)
        if net is not None:
            ours.append((addr, net))
    paths = []
    for peer in config.cluster.nodes:
        if peer.name == me:
            continue
        for addr, net in ours:
            for ip in peer.heartbeat_ips:
                theirs = ip.split("/")[0]
                if ipaddress.ip_address(theirs) in net:
                    paths.append(PathSpec(peer.name, str(net), addr, theirs))
    return paths


def timing_of(config: Config) -> Timing:
    cluster = config.cluster
    return Timing.for_member_timeout(
        cluster.member_timeout_us * US,
        heartbeat=cluster.heartbeat_interval_us * US,
        stop_margin=stop_margin_ns(config),  # wide enough for every package's stop-now
        auto_start_timeout=cluster.auto_start_timeout_us * US,
    )
