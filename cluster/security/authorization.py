"""Who may call what: the classes of callers the proto declares, decided purely.

Each RPC declares in auth.proto the class of its callers; the transport reads the
declarations into `Rule`s once and, at every call, asks `admit` with the caller's
verified identity (from its certificate, never from a message field) and what the
receiving node knows at that moment (its `Standing`). Nothing here reads a message, a
clock or a socket, so every RPC x every identity class is enumerated by a unit test.

Being signed by the cluster CA is necessary for every class and sufficient for none:

- member: a node of the receiver's applied configuration;
- coordinator: the coordinator of the receiver's current epoch (package orders, flags);
- inviter: a member, and on a node with *no* applied configuration any node
  certificate of the CA: the one exception a new node needs, being brought into its
  first configuration. The servicer narrows it further: the candidate configuration
  must name both the caller and the receiver (StageConfig, CheckFiles), and only the
  node that staged may commit or abort (DESIGN.md §4);
- quorum client: a node certificate, which cmqsd admits for a cluster only while the
  configured nodes it knows for that cluster include it;
- operator: root on the node, or a user, with the role the access-control policies
  grant it (cluster/security/access.py) at least the one the RPC requires.
"""

import enum
from dataclasses import dataclass

from cluster.security.identity import Identity, Kind, Role


class CallerClass(enum.Enum):
    MEMBER = "member"
    OPERATOR = "operator"
    COORDINATOR = "coordinator"
    INVITER = "inviter"
    QUORUM_CLIENT = "quorum client"


DEFAULT_MAX_REQUEST = 64 << 10


@dataclass(frozen=True)
class Rule:
    """One RPC's declaration."""

    method: str  # "Node/StageConfig", for messages
    caller: CallerClass | None  # None: declares no callers, refused
    role: Role | None = None  # for operators
    max_request_bytes: int = DEFAULT_MAX_REQUEST
    package_field: str = ""  # request field naming the package (per-package policies)


@dataclass(frozen=True)
class Standing:
    """What the receiving node knows when a call arrives."""

    configured: frozenset[str] | None  # nodes of its applied configuration; None: none
    generation: int = 0
    epoch: int = 0  # its current epoch, 0 when it is in none
    coordinator: str = ""  # the coordinator of that epoch, "" when none


class Verdict(enum.Enum):
    """Why a call is refused, which the transport maps to a status code."""

    UNAUTHENTICATED = "unauthenticated"  # no usable identity
    DENIED = "denied"  # this identity may never make this call here
    NOT_NOW = "not now"  # a member that may, but not in the receiver's current state


class Refused(Exception):
    def __init__(self, verdict: Verdict, message: str) -> None:
        super().__init__(message)
        self.verdict = verdict


def admit(
    rule: Rule, identity: Identity, standing: Standing, operator_role: Role | None = None
) -> None:
    """Return when `identity` may make the call `rule` declares; raise Refused if not.

    `operator_role` is what the access-control policies grant an operator for this
    call (root's is always full_admin); it is not consulted for nodes."""
    if rule.caller is None:
        raise Refused(Verdict.DENIED, f"{rule.method} declares no callers")
    if rule.caller is CallerClass.OPERATOR:
        _admit_operator(rule, identity, operator_role)
        return
    if identity.kind is not Kind.NODE:
        raise Refused(
            Verdict.DENIED, f"{identity} may not call {rule.method}: only nodes of the cluster may"
        )
    if rule.caller is CallerClass.QUORUM_CLIENT:
        return  # cmqsd checks the cluster the request names
    if rule.caller is CallerClass.INVITER and standing.configured is None:
        return  # the newcomer's exception; the servicer checks the candidate
    _admit_member(rule, identity.name, standing)
    if rule.caller is CallerClass.COORDINATOR and identity.name != standing.coordinator:
        here = (
            f"the coordinator of epoch {standing.epoch} here is {standing.coordinator}"
            if standing.coordinator
            else "this node is in no running membership"
        )
        raise Refused(
            Verdict.NOT_NOW, f"node {identity.name} may not give coordinator orders: {here}"
        )


def _admit_member(rule: Rule, node: str, standing: Standing) -> None:
    if standing.configured is None:
        raise Refused(
            Verdict.DENIED,
            f"node {node} may not call {rule.method}: this node has no configuration "
            "(apply one with cmapplyconf on a node of the cluster)",
        )
    if node not in standing.configured:
        raise Refused(
            Verdict.DENIED,
            f"node {node} is not a node of this cluster's configuration (generation "
            f"{standing.generation}): refused {rule.method}",
        )


def _admit_operator(rule: Rule, identity: Identity, role: Role | None) -> None:
    if identity.kind is Kind.NODE or identity.kind is Kind.QUORUM_SERVER:
        raise Refused(
            Verdict.DENIED,
            f"{identity.kind.value} certificate {identity.name!r} may not call {rule.method}: "
            "operator commands need root on a node or a user certificate",
        )
    needed = rule.role or Role.FULL_ADMIN
    if role is None or role < needed:
        who = (
            identity.name
            if identity.kind is Kind.LOCAL_ROOT
            else (f"{identity.kind.value} {identity.name}")
        )
        if role is None:
            has = "no role here (no access-control policy grants it one)"
        else:
            has = f"role {role.label}"
            if identity.role is not None and identity.role != role:
                has += f" here (its certificate says {identity.role.label})"
        raise Refused(Verdict.DENIED, f"{who} has {has}; {rule.method} needs {needed.label}")
