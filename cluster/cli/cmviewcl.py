"""cmviewcl: the cluster's status, in Serviceguard's layout.

  cmviewcl [-v] [-f table|line|json] [-l node|package] [-n NODE ...]

-v adds the quorum server, this node's heartbeat paths, the membership epoch and
coordinator, the lease and the last decision.
"""

import dataclasses
import json

from cluster.cli.args import CmArgumentParser, add_connection_options
from cluster.core.model import ClusterView, NodeView


def main(argv: list[str], prog: str = "cmviewcl") -> int:
    parser = CmArgumentParser(prog=prog, description="Show the status of the cluster.")
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    parser.add_argument("-f", dest="format", choices=("table", "line", "json"), default="table")
    parser.add_argument(
        "-l", dest="level", choices=("node", "package"), help="only nodes or packages"
    )
    parser.add_argument("-n", dest="nodes", action="append", default=[], metavar="NODE")
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.connect import admin_client

    with admin_client(args) as client:
        view = client.view()
    if args.nodes:
        view = dataclasses.replace(view, nodes=tuple(n for n in view.nodes if n.name in args.nodes))
    if args.format == "json":
        print(json.dumps(dataclasses.asdict(view), indent=2))
    elif args.format == "line":
        print("\n".join(lines(view)))
    else:
        print(table(view, args.verbose, args.level))
    return 0


def _status(view: ClusterView) -> str:
    return "up" if view.running else "down"


def table(view: ClusterView, verbose: bool, level: str | None) -> str:
    if not view.cluster_name:
        return "No cluster is configured on this node (cmapplyconf)."
    out: list[str] = []
    out += ["CLUSTER        STATUS", f"{view.cluster_name:<14} {_status(view)}"]
    if verbose and view.quorum is not None:
        qs = view.quorum
        status, state = ("up", "running") if qs.reachable else ("down", "unknown")
        out += [
            "",
            "  Quorum_Server_Status:",
            "  NAME           STATUS       STATE",
            f"  {qs.host:<14} {status:<12} {state}",
        ]
    if level != "package":
        for node in view.nodes:
            out += [
                "",
                "  NODE           STATUS       STATE",
                f"  {node.name:<14} {node.status:<12} {node.state}",
            ]
            if verbose and node.name == view.reporting_node:
                out += _paths(view, node)
    if level != "node":
        out += ["", "  (no packages are configured)"] if verbose else []
    if verbose:
        members = ", ".join(view.members) or "none"
        out += [
            "",
            f"  Membership: epoch {view.epoch}, members {members}"
            + (f", coordinator {view.coordinator}" if view.coordinator else ""),
            f"  Configuration generation: {view.config_generation}",
        ]
        if view.lease_held:
            out.append(f"  Lease of {view.reporting_node}: held, {view.lease_remaining:.1f} s left")
        if view.last_event:
            out.append(f"  Last event on {view.reporting_node}: {view.last_event}")
    return "\n".join(out)


def _paths(view: ClusterView, node: NodeView) -> list[str]:
    if not node.paths:
        return []
    rows = [
        "",
        "    Heartbeat_Paths:",
        "    PEER           NETWORK            ADDRESS          STATUS",
    ]
    for p in node.paths:
        rows.append(
            f"    {p.peer:<14} {p.network:<18} {p.peer_address:<16} {'up' if p.up else 'down'}"
        )
    return rows


def lines(view: ClusterView) -> list[str]:
    """Serviceguard's -f line: one key=value per line, objects joined by '|'."""
    out = [
        f"name={view.cluster_name}",
        f"status={_status(view)}",
        f"epoch={view.epoch}",
        f"coordinator={view.coordinator}",
        f"config_generation={view.config_generation}",
    ]
    for node in view.nodes:
        out += [f"node:{node.name}|status={node.status}", f"node:{node.name}|state={node.state}"]
        for p in node.paths:
            state = "up" if p.up else "down"
            out.append(f"node:{node.name}|heartbeat_path:{p.peer}:{p.network}|status={state}")
    if view.quorum is not None:
        state = "up" if view.quorum.reachable else "down"
        out.append(f"quorum_server:{view.quorum.host}|status={state}")
    return out
