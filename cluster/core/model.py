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
