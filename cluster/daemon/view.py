"""cmviewcl's picture of the cluster, from this node's membership state.

A peer is described by what its own pings last said (active member, or its operator's
intent), so even a halted node shows a running cluster correctly; a peer not heard for
MEMBER_TIMEOUT is down, and "failed" if it left a membership without leaving it.
"""

import time

from cluster.core.messages import Intent
from cluster.core.model import ClusterView, NodeView, PathView, QuorumView
from cluster.daemon.membership import MembershipDriver

_NOT_ACTIVE = {
    Intent.HALTED: ("down", "halted"),
    Intent.BOOTING: ("down", "starting"),
    Intent.RUN: ("down", "starting"),
    Intent.LEAVE: ("up", "halting"),
}


def cluster_view(driver: MembershipDriver, generation: int) -> ClusterView:
    core = driver.core
    config = driver.config
    name = config.cluster.name if config else ""
    now = time.monotonic_ns()
    paths = driver.links.status()
    nodes: list[NodeView] = []
    running = False
    decided = driver.decided()
    if core is not None and config is not None:
        heard = core.heard_nodes(now)
        for node in sorted(config.cluster.node_names):
            # Paths are what this node knows: its own, to each peer.
            node_paths = (
                tuple(PathView(p.peer, p.network, p.remote, p.up) for p in paths)
                if node == driver.node
                else ()
            )
            if node == driver.node:
                if core.active:
                    status, state = "up", "running"
                elif core.intent is Intent.LEAVE:
                    status, state = "up", "halting"
                elif core.busy():
                    status, state = "down", "starting"
                else:
                    status, state = "down", "halted"
            elif node in heard and node in core.hb.info:
                info = core.hb.info[node]
                # Running means a member of the epoch we know: a peer back from a
                # restart answers pings before its own first ping replaces what its
                # previous incarnation said of itself.
                member = node in decided.members and info.epoch == decided.epoch
                status, state = (
                    ("up", "running") if info.active and member else _NOT_ACTIVE[info.intent]
                )
            else:
                status, state = "down", "failed" if node in driver.failed_nodes else "unknown"
            running = running or state == "running"
            nodes.append(NodeView(node, status, state, node_paths))
    quorum = None
    if config is not None and config.cluster.qs_host:
        last = driver.quorum.last_answer
        age = -1.0 if last is None else time.monotonic() - last
        horizon = 2 * max(config.cluster.qs_polling_interval_us / 1e6, 10.0)
        # As Serviceguard: the state of the last poll (a vote counts as one).
        reachable = driver.quorum.answering and 0 <= age < horizon
        quorum = QuorumView(config.cluster.qs_host, reachable, age)
    remaining = max(0.0, (driver.lease.deadline - now) / 1e9) if driver.lease.held else 0.0
    return ClusterView(
        cluster_name=name,
        running=running,
        epoch=decided.epoch,
        members=decided.members,
        coordinator=decided.coordinator,
        nodes=tuple(nodes),
        quorum=quorum,
        reporting_node=driver.node,
        last_event=driver.last_event,
        lease_held=driver.lease.held,
        lease_remaining=remaining,
        config_generation=generation,
    )
