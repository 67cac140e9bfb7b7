"""The validated configuration as typed, frozen objects: what the daemon and the core use.

Times are integer microseconds (`*_us`); "no timeout" and "unlimited" are None. Every
object remembers where it was written (`origin`, left out of comparisons) so the checks
can name the file and line. Each `Cluster` and `Package` also keeps the entry tree it was
built from, which is what gets compiled to the binary form and rendered by cmgetconf.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from cluster.config.tree import Document

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Origin:
    """Where an object was written: its file and line, and where each of its keywords was.

    A legacy package mixes two files (PKG.conf and its control script), so every keyword
    occurrence carries its own path.
    """

    path: str = ""
    line: int = 0
    lines: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    def where(self, keyword: str = "", index: int = 0) -> tuple[str, int]:
        """(path, line) of the index-th `keyword` of this object, else of the object."""
        found = self.lines.get(keyword, ())
        if index < len(found) and found[index][1]:
            return found[index]
        return self.path, self.line


def _origin() -> Origin:
    return Origin()


def _doc() -> Document:
    return Document("", "", ())


def address_of(ip: str) -> IPAddress:
    """The address of `198.18.0.1/24` or `198.18.0.1`."""
    return ipaddress.ip_interface(ip).ip


def network_of(ip: str) -> IPNetwork | None:
    """The subnet of `198.18.0.1/24`; None when written without a prefix."""
    return ipaddress.ip_interface(ip).network if "/" in ip else None


@dataclass(frozen=True)
class NetworkInterface:
    name: str
    heartbeat_ips: tuple[str, ...] = ()
    stationary_ips: tuple[str, ...] = ()
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)

    @property
    def standby(self) -> bool:
        """No address of its own: it takes over a failed interface's addresses."""
        return not self.heartbeat_ips and not self.stationary_ips

    @property
    def ips(self) -> tuple[str, ...]:
        return self.heartbeat_ips + self.stationary_ips


@dataclass(frozen=True)
class Node:
    name: str
    interfaces: tuple[NetworkInterface, ...] = ()
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)

    @property
    def heartbeat_ips(self) -> tuple[str, ...]:
        return tuple(ip for i in self.interfaces for ip in i.heartbeat_ips)

    @property
    def ips(self) -> tuple[str, ...]:
        return tuple(ip for i in self.interfaces for ip in i.ips)

    @cached_property
    def subnets(self) -> frozenset[IPNetwork]:
        """The subnets this node has an address on (those written with a prefix)."""
        return frozenset(net for ip in self.ips if (net := network_of(ip)) is not None)

    @cached_property
    def all_prefixed(self) -> bool:
        """Whether every address has its prefix, so `subnets` is the whole truth."""
        return all("/" in ip for ip in self.ips)


@dataclass(frozen=True)
class AccessPolicy:
    users: tuple[str, ...]  # ("ANY_USER",) or user names
    host: str
    role: str
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)


@dataclass(frozen=True)
class Alert:
    """ALERT_SCRIPT and its parameters: a script run for cluster events. `name`: the
    script's file name, for the logs and CM_ALERT_NAME."""

    name: str
    script: str
    recipient: str = ""
    events: tuple[str, ...] = ("all",)
    timeout_us: int = 30_000_000
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)

    def wants(self, kind: str) -> bool:
        return self.events == ("all",) or kind in self.events


@dataclass(frozen=True)
class Cluster:
    name: str
    nodes: tuple[Node, ...]
    member_timeout_us: int
    auto_start_timeout_us: int
    network_polling_interval_us: int
    network_failure_detection: str
    max_configured_packages: int
    qs_host: str | None = None
    qs_addr: str | None = None
    qs_polling_interval_us: int = 0
    qs_timeout_extension_us: int = 0
    watchdog_device: str | None = None
    volume_groups: tuple[str, ...] = ()
    access_policies: tuple[AccessPolicy, ...] = ()
    alerts: tuple[Alert, ...] = ()
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)
    document: Document = field(default_factory=_doc, compare=False, repr=False)

    @property
    def heartbeat_interval_us(self) -> int:
        """MEMBER_TIMEOUT/10, at most one second (DESIGN.md §2)."""
        return min(self.member_timeout_us // 10, 1_000_000)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def node(self, name: str) -> Node | None:
        return self._nodes_by_name.get(name)

    @cached_property
    def _nodes_by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    @cached_property
    def subnets(self) -> frozenset[IPNetwork]:
        """Every subnet some node has a prefixed address on."""
        return frozenset(net for node in self.nodes for net in node.subnets)


@dataclass(frozen=True)
class Dependency:
    name: str
    package: str
    condition: str  # "UP" or "DOWN"
    location: str  # same_node, any_node, different_node
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)


@dataclass(frozen=True)
class Service:
    name: str
    command: str
    restart: int | None  # restarts allowed; None: unlimited
    fail_fast: bool
    halt_timeout_us: int
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)


@dataclass(frozen=True)
class IpSubnet:
    subnet: str  # "198.18.1.0/24", or "198.18.1.0" when the prefix comes from the cluster
    addresses: tuple[str, ...] = ()
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)


@dataclass(frozen=True)
class Filesystem:
    device: str
    directory: str
    type: str
    mount_options: str = ""
    umount_options: str = ""
    fsck_options: str = ""
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)


@dataclass(frozen=True)
class OcfResource:
    name: str
    agent: str  # PROVIDER/AGENT
    parameters: tuple[tuple[str, str], ...]
    monitor_interval_us: int
    timeout_us: int
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)

    def agent_path(self, ocf_root: str) -> str:
        return f"{ocf_root}/{self.agent}"


@dataclass(frozen=True)
class Package:
    name: str
    type: str  # failover or multi_node
    node_names: tuple[str, ...]  # as written; "*" is every cluster node
    auto_run: bool
    node_fail_fast: bool
    run_script_timeout_us: int | None
    halt_script_timeout_us: int | None
    successor_halt_timeout_us: int | None
    local_lan_failover: bool
    description: str = ""
    run_script: str | None = None
    halt_script: str | None = None
    script_log_file: str | None = None
    failover_policy: str = "configured_node"
    failback_policy: str = "manual"
    priority: int | None = None
    failure_timeout_us: int = 0  # 0: the failure history clears only by cmmodpkg -e
    dependencies: tuple[Dependency, ...] = ()
    monitored_subnets: tuple[str, ...] = ()
    ip_subnets: tuple[IpSubnet, ...] = ()
    volume_groups: tuple[str, ...] = ()
    filesystems: tuple[Filesystem, ...] = ()
    ocf_resources: tuple[OcfResource, ...] = ()
    services: tuple[Service, ...] = ()
    access_policies: tuple[AccessPolicy, ...] = ()
    origin: Origin = field(default_factory=_origin, compare=False, repr=False)
    document: Document = field(default_factory=_doc, compare=False, repr=False)

    @property
    def is_failover(self) -> bool:
        return self.type == "failover"

    @property
    def ip_addresses(self) -> tuple[str, ...]:
        return tuple(a for s in self.ip_subnets for a in s.addresses)

    def eligible_nodes(self, cluster: Cluster) -> tuple[str, ...]:
        """The nodes that may run the package, in preference order (`*` expanded)."""
        if "*" in self.node_names:
            return cluster.node_names
        return self.node_names


@dataclass(frozen=True)
class Config:
    """A whole configuration: the cluster and its packages, in name order, and the
    cluster CA's certificate revocation lists (PEM) that every node enforces."""

    cluster: Cluster
    packages: tuple[Package, ...] = ()
    revocation_list: bytes = b""
    cluster_id: str = ""  # made by the cluster's first cmapplyconf ("" before cluster ids)

    def package(self, name: str) -> Package | None:
        for package in self.packages:
            if package.name == name:
                return package
        return None
