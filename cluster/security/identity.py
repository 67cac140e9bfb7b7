"""Who a peer is, read from its certificate, and what its role lets it do.

Identities live in the certificate's subjectAltName as URIs, which gRPC exposes as
`peer_uri` without parsing the certificate:

    urn:cmcluster:node:NAME      a node of the cluster (also a DNS name NAME)
    urn:cmcluster:qs:NAME        a quorum server (also a DNS name NAME)
    urn:cmcluster:user:NAME      an operator
    urn:cmcluster:role:ROLE      the operator's role (monitor, package_admin, full_admin)

Root on a node talks to its cmcld over a root-only local socket and is full_admin.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass

URN_PREFIX = "urn:cmcluster:"


class Role(enum.IntEnum):
    """Serviceguard's access-control roles; a higher role may do all a lower one may."""

    MONITOR = 1
    PACKAGE_ADMIN = 2
    FULL_ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Role":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValueError(f"unknown role {text!r} (choose from {names})") from None


class Kind(enum.Enum):
    NODE = "node"
    QUORUM_SERVER = "quorum server"
    USER = "user"
    LOCAL_ROOT = "local root"


@dataclass(frozen=True)
class Identity:
    kind: Kind
    name: str
    role: Role | None = None  # users and local root; nodes have no operator role

    def __str__(self) -> str:
        if self.kind is Kind.USER and self.role is not None:
            return f"user {self.name} ({self.role.label})"
        if self.kind is Kind.LOCAL_ROOT:
            return self.name  # root@node
        return f"{self.kind.value} {self.name}"

    def may_operate(self, needed: Role) -> bool:
        return self.role is not None and self.role >= needed


class IdentityError(ValueError):
    """A certificate whose cmcluster identity is missing or contradictory."""


def node_uri(name: str) -> str:
    return f"{URN_PREFIX}node:{name}"


def quorum_server_uri(name: str) -> str:
    return f"{URN_PREFIX}qs:{name}"


def user_uri(name: str) -> str:
    return f"{URN_PREFIX}user:{name}"


def role_uri(role: Role) -> str:
    return f"{URN_PREFIX}role:{role.label}"


def identity_from_uris(uris: Iterable[str]) -> Identity:
    """The identity a certificate's URI SANs give; refuses anything ambiguous."""
    nodes: list[str] = []
    servers: list[str] = []
    users: list[str] = []
    roles: list[str] = []
    for uri in uris:
        if not uri.startswith(URN_PREFIX):
            continue
        kind, _, value = uri[len(URN_PREFIX) :].partition(":")
        {"node": nodes, "qs": servers, "user": users, "role": roles}.get(kind, []).append(value)
    if len(nodes) + len(servers) + len(users) != 1:
        raise IdentityError(
            "certificate must name exactly one cmcluster node, quorum server or user "
            f"(found nodes={nodes}, quorum servers={servers}, users={users})"
        )
    if servers:
        if roles:
            raise IdentityError(f"quorum server certificate {servers[0]!r} must not carry a role")
        return Identity(Kind.QUORUM_SERVER, servers[0])
    if nodes:
        if roles:
            raise IdentityError(f"node certificate {nodes[0]!r} must not carry a role")
        return Identity(Kind.NODE, nodes[0])
    if len(roles) != 1:
        raise IdentityError(f"user certificate {users[0]!r} must carry exactly one role")
    try:
        role = Role.parse(roles[0])
    except ValueError as exc:
        raise IdentityError(str(exc)) from None
    return Identity(Kind.USER, users[0], role)


def local_root(node: str) -> Identity:
    return Identity(Kind.LOCAL_ROOT, f"root@{node}", Role.FULL_ADMIN)
