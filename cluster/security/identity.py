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

from cluster.names import (
    node_name_problem,
    quorum_server_name_problem,
    shown,
    user_name_problem,
)

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
    LOCAL_USER = "local user"  # a member of cmcld's admin group, on the local socket


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


_KINDS = ("node", "qs", "user", "role")
_MAX_URIS = 16  # a cmcluster certificate carries two; more is not ours to read


def identity_from_uris(uris: Iterable[str]) -> Identity:
    """The identity a certificate's URI SANs give; refuses anything ambiguous, and any
    name the validator refuses (a NUL, a newline, '..': it would reach logs and files).

    Messages quote at most a short prefix of a name, however long the certificate's."""
    found: dict[str, list[str]] = {kind: [] for kind in _KINDS}
    for count, uri in enumerate(uris, 1):
        if count > _MAX_URIS:
            raise IdentityError(f"certificate has more than {_MAX_URIS} URI names")
        if not uri.startswith(URN_PREFIX):
            continue
        kind, sep, value = uri[len(URN_PREFIX) :].partition(":")
        if not sep or kind not in found:
            raise IdentityError(f"unknown cmcluster name {shown(uri)} in certificate")
        found[kind].append(value)
    nodes, servers, users, roles = (found[kind] for kind in _KINDS)
    if len(nodes) + len(servers) + len(users) != 1:
        raise IdentityError(
            "certificate must name exactly one cmcluster node, quorum server or user "
            f"(found nodes={_listed(nodes)}, quorum servers={_listed(servers)}, "
            f"users={_listed(users)})"
        )
    if servers:
        _check_name(quorum_server_name_problem(servers[0]))
        if roles:
            raise IdentityError(
                f"quorum server certificate {shown(servers[0])} must not carry a role"
            )
        return Identity(Kind.QUORUM_SERVER, servers[0])
    if nodes:
        _check_name(node_name_problem(nodes[0]))
        if roles:
            raise IdentityError(f"node certificate {shown(nodes[0])} must not carry a role")
        return Identity(Kind.NODE, nodes[0])
    _check_name(user_name_problem(users[0]))
    if len(roles) != 1:
        raise IdentityError(f"user certificate {shown(users[0])} must carry exactly one role")
    # Exactly as the CA writes it: Role.parse forgives case and blanks, a certificate must not.
    role = next((r for r in Role if r.label == roles[0]), None)
    if role is None:
        names = ", ".join(r.label for r in Role)
        raise IdentityError(f"unknown role {shown(roles[0])} (choose from {names})")
    return Identity(Kind.USER, users[0], role)


def _check_name(problem: str | None) -> None:
    if problem:
        raise IdentityError(f"certificate names an {problem}")


def _listed(names: list[str]) -> str:
    return (
        "[" + ", ".join(shown(name) for name in names[:3]) + (", ...]" if len(names) > 3 else "]")
    )


def local_root(node: str) -> Identity:
    return Identity(Kind.LOCAL_ROOT, f"root@{node}", Role.FULL_ADMIN)
