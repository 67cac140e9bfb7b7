"""Semantic checks of the cluster file: nodes, networks, quorum, timing, access.

Each check names the file and line of the value at fault and quotes the values it
compared. Serviceguard's rules are followed where cmcluster has the same feature;
the reasons are written next to each rule.
"""

import ipaddress
from collections.abc import Sequence

from cluster.config.model import AccessPolicy, Cluster, IPNetwork, address_of, network_of
from cluster.config.params_cluster import ANY_USER, MAX_NODES, USER_HOST_WORDS
from cluster.config.problems import Problems
from cluster.config.units import SECOND, human_duration

SINGLE_HEARTBEAT_MIN_US = 14 * SECOND  # Serviceguard's minimum with one heartbeat LAN
LARGE_MEMBER_TIMEOUT_US = 60 * SECOND  # Serviceguard asks for confirmation above this


def validate_cluster(cluster: Cluster, problems: Problems) -> None:
    _nodes(cluster, problems)
    _addresses(cluster, problems)
    _heartbeat_subnets(cluster, problems)
    _quorum(cluster, problems)
    _timing(cluster, problems)
    _access(cluster, problems)


def _nodes(cluster: Cluster, problems: Problems) -> None:
    if len(cluster.nodes) > MAX_NODES:
        path, line = cluster.nodes[MAX_NODES].origin.where()
        problems.error(path, line, f"{len(cluster.nodes)} nodes: a cluster has at most {MAX_NODES}")
    seen: dict[str, str] = {}
    for node in cluster.nodes:
        other = seen.setdefault(node.name.lower(), node.name)
        if other != node.name:
            # Host names are case-insensitive, and node certificates carry DNS names.
            problems.error(
                *node.origin.where(), f"node {node.name} and node {other} differ only in case"
            )
        if not node.heartbeat_ips:
            problems.error(
                *node.origin.where(),
                f"node {node.name} has no HEARTBEAT_IP: give at least one interface a "
                "HEARTBEAT_IP so the other nodes can hear it",
            )


def _addresses(cluster: Cluster, problems: Problems) -> None:
    """An address belongs to one interface of one node."""
    owners: dict[str, str] = {}
    for node in cluster.nodes:
        for interface in node.interfaces:
            for keyword in ("HEARTBEAT_IP", "STATIONARY_IP"):
                ips = (
                    interface.heartbeat_ips
                    if keyword == "HEARTBEAT_IP"
                    else interface.stationary_ips
                )
                for index, ip in enumerate(ips):
                    path, line = interface.origin.where(keyword, index)
                    address = str(address_of(ip))
                    owner = f"node {node.name} interface {interface.name} (line {line})"
                    first = owners.setdefault(address, owner)
                    if first != owner:
                        problems.error(
                            path, line, f"{keyword} {address} is already used by {first}"
                        )


def _heartbeat_subnets(cluster: Cluster, problems: Problems) -> None:
    """With prefixes known, some heartbeat subnet must reach every node (no routing)."""
    if len(cluster.nodes) < 2:
        return
    per_node: list[set[IPNetwork]] = []
    for node in cluster.nodes:
        nets = [network_of(ip) for ip in node.heartbeat_ips]
        if not nets or None in nets:
            return  # a missing heartbeat is reported elsewhere; no prefix, no judgement
        per_node.append({n for n in nets if n is not None})
    if not set.intersection(*per_node):
        path, line = cluster.nodes[0].origin.where()
        problems.error(
            path,
            line,
            "no heartbeat subnet reaches every node: give each node a HEARTBEAT_IP on one "
            "common subnet",
        )


def _quorum(cluster: Cluster, problems: Problems) -> None:
    path, line = cluster.origin.where("CLUSTER_NAME")
    count = len(cluster.nodes)
    if cluster.qs_addr and not cluster.qs_host:
        problems.error(*cluster.origin.where("QS_ADDR"), "QS_ADDR is given without QS_HOST")
    if cluster.qs_host:
        base = cluster.member_timeout_us // (10 if count <= 2 else 5)
        wait = base + cluster.qs_timeout_extension_us
        if wait >= cluster.member_timeout_us:
            problems.error(
                *cluster.origin.where("QS_TIMEOUT_EXTENSION"),
                f"QS_TIMEOUT_EXTENSION {human_duration(cluster.qs_timeout_extension_us)} makes "
                f"the quorum server's timeout {human_duration(wait)}, not shorter than "
                f"MEMBER_TIMEOUT {human_duration(cluster.member_timeout_us)}: its vote would "
                "come after the leases ended",
            )
        return
    if count == 2:
        problems.error(
            path,
            line,
            "a two-node cluster needs a quorum server (QS_HOST): without a tie-breaker the "
            "survivor of a failure or a network split cannot know it may go on",
        )
    elif count >= 4 and count % 2 == 0:
        problems.warn(
            path,
            line,
            f"{count} nodes and no quorum server (QS_HOST): if exactly half the nodes fail "
            "or are cut off, the whole cluster halts",
        )


def _timing(cluster: Cluster, problems: Problems) -> None:
    timeout = cluster.member_timeout_us
    path, line = cluster.origin.where("MEMBER_TIMEOUT")
    single = cluster.nodes and all(len(n.heartbeat_ips) <= 1 for n in cluster.nodes)
    if single and len(cluster.nodes) > 1 and timeout < SINGLE_HEARTBEAT_MIN_US:
        problems.warn(
            path,
            line,
            f"MEMBER_TIMEOUT {human_duration(timeout)} with one heartbeat network per node: a "
            "short network glitch re-forms the cluster (Serviceguard requires "
            f"{human_duration(SINGLE_HEARTBEAT_MIN_US)}); add a second HEARTBEAT_IP or "
            "raise MEMBER_TIMEOUT",
        )
    if timeout > LARGE_MEMBER_TIMEOUT_US:
        problems.warn(
            path,
            line,
            f"MEMBER_TIMEOUT {human_duration(timeout)}: a failed node is noticed only after "
            "that long (and failover takes longer still)",
        )


def _access(cluster: Cluster, problems: Problems) -> None:
    validate_policies(cluster.access_policies, cluster, problems)


def validate_policies(
    policies: Sequence[AccessPolicy], cluster: Cluster, problems: Problems
) -> None:
    """Policies (of the cluster file, or of one package) must be neither conflicting
    nor redundant (as in Serviceguard), and USER_HOST must be something cmcld can tell
    at every call without asking a resolver: a node of the cluster or an IP address."""
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    nodes = set(cluster.node_names)
    for policy in policies:
        path, line = policy.origin.where()
        if policy.host not in USER_HOST_WORDS and policy.host not in nodes:
            try:
                ipaddress.ip_address(policy.host)
            except ValueError:
                problems.error(
                    *policy.origin.where("USER_HOST"),
                    f"USER_HOST {policy.host} is neither a node of this cluster nor an IP "
                    f"address (nor {' nor '.join(USER_HOST_WORDS)}): cmcld matches the "
                    "caller's address at every call and never asks a resolver",
                )
        for user in policy.users:
            key = (user, policy.host)
            if key in seen:
                role, first = seen[key]
                what = "repeats" if role == policy.role else f"conflicts with {role} in"
                who = "ANY_USER" if user == ANY_USER else f"user {user}"
                problems.error(
                    path,
                    line,
                    f"{who} on {policy.host} as {policy.role} {what} the policy on line {first}",
                )
            else:
                seen[key] = (policy.role, line)
