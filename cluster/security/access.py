"""Serviceguard's access-control policies (USER_NAME, USER_HOST, USER_ROLE), decided purely.

How they combine with certificates (README "Security"):

- Root on a node, through its local socket, is always full_admin (as in Serviceguard).
- A user certificate carries a role: that role is a *ceiling*. While no policy is
  configured (neither in the cluster file nor in any package), the certificate's role
  is the user's role. Once any policy is configured, a user gets the highest role of
  the policies that name them (or ANY_USER) from where they connect, for a package
  command also that package's policies, never above the certificate's role; a user
  that no policy names gets nothing.
- A member of cmcld's admin group on the node's local socket has no certificate: it
  gets what the policies grant its Unix user name on this node, and monitor when no
  policy is configured.

USER_HOST: ANY_SERVICEGUARD_NODE admits any address (the certificate is what proves
the user); CLUSTER_MEMBER_NODE the configured addresses of the cluster's nodes and
the local socket; a node name that node's configured addresses (and the local socket
on that node); an IP address that address.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from cluster.security.identity import Identity, Kind, Role

ANY_USER = "ANY_USER"
ANY_NODE = "ANY_SERVICEGUARD_NODE"
MEMBER_NODE = "CLUSTER_MEMBER_NODE"


@dataclass(frozen=True)
class Policy:
    users: tuple[str, ...]  # (ANY_USER,) or user names
    host: str  # ANY_NODE, MEMBER_NODE, a node name or an IP address
    role: Role
    package: str = ""  # "" for a cluster policy


@dataclass(frozen=True)
class Where:
    """Where an operator's call comes from."""

    address: str | None  # the peer's IP address; None through the local socket

    @property
    def local(self) -> bool:
        return self.address is None


@dataclass(frozen=True)
class AccessRules:
    """The policies of one applied configuration, and the addresses they refer to."""

    local_node: str
    policies: tuple[Policy, ...] = ()
    node_addresses: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def role(self, identity: Identity, where: Where, package: str = "") -> Role | None:
        """The role `identity` has for a call from `where` (about `package`, if any)."""
        if identity.kind is Kind.LOCAL_ROOT:
            return Role.FULL_ADMIN
        if identity.kind is Kind.USER:
            ceiling = identity.role
        elif identity.kind is Kind.LOCAL_USER:
            ceiling = Role.FULL_ADMIN  # no certificate: the policies alone decide
        else:
            return None
        if not self.policies:
            return ceiling if identity.kind is Kind.USER else Role.MONITOR
        granted = [
            p.role
            for p in self.policies
            if (not p.package or p.package == package)
            and (ANY_USER in p.users or identity.name in p.users)
            and self._host_matches(p.host, where)
        ]
        if not granted or ceiling is None:
            return None
        return min(max(granted), ceiling)

    def _host_matches(self, host: str, where: Where) -> bool:
        if host == ANY_NODE:
            return True
        if where.local:
            own = self.node_addresses.get(self.local_node, frozenset())
            return host in (MEMBER_NODE, self.local_node) or host in own
        address = normal_address(where.address or "")
        if host == MEMBER_NODE:
            return any(address in addresses for addresses in self.node_addresses.values())
        if host in self.node_addresses:
            return address in self.node_addresses[host]
        return address == normal_address(host)


def normal_address(text: str) -> str:
    """An IP address in one spelling (IPv4-mapped IPv6 as IPv4); "" if it is none."""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def peer_address(peer: str) -> str:
    """The IP address in a gRPC peer string ("ipv4:198.18.0.5:4123", "ipv6:[::1]:4123");
    "" for anything else."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return normal_address(rest.rpartition(":")[0])
    if kind == "ipv6":
        host = rest.rpartition(":")[0] if rest.startswith("[") else rest
        return normal_address(host.replace("%5B", "[").replace("%5D", "]"))
    return ""
