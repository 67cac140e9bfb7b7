"""Cluster events for alert scripts (ALERT_SCRIPT in the cluster file), declared once: the
kinds an operator may filter on (ALERT_EVENTS), who raises each, and the event itself.

Pacemaker's alert agents and keepalived's notify scripts are the models: a node raises
the events of what happens on it (its packages, services, interfaces, its lease, its
link to the quorum server, its certificate); the coordinator of a membership raises the
cluster's (memberships decided, nodes joined, left or failed, packages moved, maintenance
mode, configurations applied). Every event reaches the scripts of the node that raised
it, through environment variables (see `Event.environment`).
"""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    NODE_JOINED = "node_joined"
    NODE_LEFT = "node_left"  # through cmhaltnode or cmhaltcl
    NODE_FAILED = "node_failed"  # excluded without leaving: crashed, cut off, frozen
    MEMBERSHIP_DECIDED = "membership_decided"
    LEASE_LOST = "lease_lost"
    PACKAGE_STARTING = "package_starting"
    PACKAGE_STARTED = "package_started"
    PACKAGE_HALTED = "package_halted"
    PACKAGE_FAILED = "package_failed"
    PACKAGE_MOVED = "package_moved"
    PACKAGE_MAINTENANCE = "package_maintenance"
    SERVICE_RESTARTED = "service_restarted"
    SERVICE_FAILED = "service_failed"
    LAN_FAILOVER_MOVED = "lan_failover_moved"
    LAN_FAILOVER_RETURNED = "lan_failover_returned"
    QUORUM_SERVER_UNREACHABLE = "quorum_server_unreachable"
    QUORUM_SERVER_BACK = "quorum_server_back"
    CERTIFICATE_EXPIRING = "certificate_expiring"
    CONFIGURATION_APPLIED = "configuration_applied"


ALL = "all"


def parse_kinds(text: str) -> tuple[str, ...]:
    """ALERT_EVENTS: `all`, or kinds separated by commas or spaces (ValueError naming
    the unknown one and the known ones)."""
    words = [w for w in text.replace(",", " ").split() if w]
    if not words:
        raise ValueError("give `all` or event kinds")
    if [w.lower() for w in words] == [ALL]:
        return (ALL,)
    known = {k.value for k in Kind}
    kinds: list[str] = []
    for word in words:
        kind = word.lower()
        if kind == ALL:
            raise ValueError("`all` cannot be combined with event kinds")
        if kind not in known:
            raise ValueError(f"unknown event kind {word!r}: all, or {', '.join(sorted(known))}")
        if kind in kinds:
            raise ValueError(f"event kind {kind} is listed twice")
        kinds.append(kind)
    return tuple(kinds)


@dataclass(frozen=True)
class Event:
    """One event. `node`: the node it is about (not always the one raising it);
    `old`/`new`: the states before and after (for package_moved, the nodes; for
    lan_failover_*, the interfaces); `epoch`: the membership it happened in."""

    kind: Kind
    node: str = ""
    package: str = ""
    service: str = ""
    epoch: int = 0
    old: str = ""
    new: str = ""
    reason: str = ""

    def environment(self) -> dict[str, str]:
        """CM_ALERT_* for the script (the runner adds the timestamp, sequence,
        recipient, alert name, cluster and reporting node)."""
        return {
            "CM_ALERT_KIND": self.kind.value,
            "CM_ALERT_NODE": self.node,
            "CM_ALERT_PACKAGE": self.package,
            "CM_ALERT_SERVICE": self.service,
            "CM_ALERT_EPOCH": str(self.epoch),
            "CM_ALERT_OLD_STATE": self.old,
            "CM_ALERT_NEW_STATE": self.new,
            "CM_ALERT_REASON": self.reason,
        }
