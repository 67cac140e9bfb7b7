"""Plain data shared by every layer: what a node is and what it reports.

Frozen dataclasses only; nothing here performs IO or knows about protobuf.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Address:
    address: str
    prefix_len: int
    subnet: str  # network with prefix, "198.18.0.0/24"
    ipv6: bool
    scope: str  # "global", "link", "host"
    secondary: bool


@dataclass(frozen=True)
class Interface:
    name: str
    index: int
    mac: str
    mtu: int
    admin_up: bool
    link_up: bool
    oper_state: str
    loopback: bool
    master: str  # enslaving device, "" when none
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class NodeInfo:
    """What a node says about itself (GetNodeInfo; the input of cmquerycl)."""

    node_name: str
    version: str
    host_name: str
    cluster_name: str
    pid: int
    uptime_seconds: float
    interfaces: tuple[Interface, ...]
    kernel: str = ""
    python: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    config_generation: int = 0


@dataclass(frozen=True)
class NodeQuery:
    """One node's answer to cmquerycl: its NodeInfo, or why it could not be asked."""

    node_name: str
    info: NodeInfo | None
    error: str = ""


@dataclass(frozen=True)
class PathView:
    """One heartbeat path from the reporting node to a peer."""

    peer: str
    network: str
    peer_address: str
    up: bool


@dataclass(frozen=True)
class InterfaceView:
    """A NETWORK_INTERFACE of the reporting node, for local LAN failover."""

    name: str
    standby: bool
    up: bool
    carrying: str = ""  # a standby: whose addresses it has; a primary: where its are


@dataclass(frozen=True)
class NodeView:
    name: str
    status: str  # Serviceguard's STATUS: up, down
    state: str  # running, halted, failed, starting, halting, unknown
    paths: tuple[PathView, ...] = ()
    interfaces: tuple[InterfaceView, ...] = ()


@dataclass(frozen=True)
class QuorumView:
    host: str
    reachable: bool
    last_answer_age: float  # seconds; -1 when it never answered


@dataclass(frozen=True)
class ServiceView:
    name: str
    running: bool
    restarts: int  # used so far
    max_restarts: str  # SERVICE_RESTART as configured: none, N, unlimited
    pid: int = 0


@dataclass(frozen=True)
class PackageNodeView:
    """One NODE_NAME of a package: node switching and failure history there."""

    name: str
    switching_enabled: bool
    failed_here: bool
    primary: bool  # the first NODE_NAME


@dataclass(frozen=True)
class PackageView:
    """One package (cmviewcl -v): Serviceguard's STATUS up/down and STATE
    halted/starting/running/halting/failed; `node` where it runs (empty when down)."""

    name: str
    status: str
    state: str
    auto_run: bool
    node: str
    type: str  # failover, multi_node
    failover_policy: str  # configured_node, min_package_node
    failback_policy: str  # manual, automatic
    nodes: tuple[PackageNodeView, ...] = ()
    services: tuple[ServiceView, ...] = ()
    monitored_subnets: tuple[str, ...] = ()
    reason: str = ""  # why it is not where it should be (the coordinator's last word)
    running_on: tuple[str, ...] = ()  # multi_node: every node it runs on
    subnets_down: tuple[str, ...] = ()  # monitored subnets down where it runs
    subnets_known: bool = False  # a node running it reported its subnets
    maintenance: str = ""  # cmmodpkg -m on: the node; STATE is "maintenance" while up
    ailing: str = ""  # what is not up or healthy of it where it runs (maintenance mode)

    def subnet_status(self, subnet: str) -> str:
        """up, down, or unknown (the package runs nowhere that reported)."""
        if not self.subnets_known:
            return "unknown"
        return "down" if subnet in self.subnets_down else "up"


@dataclass(frozen=True)
class ClusterView:
    """The cluster as one node sees it (cmviewcl)."""

    cluster_name: str
    running: bool
    epoch: int
    members: tuple[str, ...]
    coordinator: str
    nodes: tuple[NodeView, ...]
    quorum: QuorumView | None
    reporting_node: str
    last_event: str
    lease_held: bool
    lease_remaining: float
    config_generation: int
    packages: tuple[PackageView, ...] = ()
    warnings: tuple[str, ...] = ()  # of the reporting node: certificates expiring
