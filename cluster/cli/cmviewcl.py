"""cmviewcl: the cluster's status, in Serviceguard's layout.

  cmviewcl [-v] [-f table|line|json] [-l node|package] [-n NODE ... | -p PKG ...]

Each node is followed by the packages it runs; packages running nowhere come last,
under UNOWNED_PACKAGES. -v adds the quorum server, this node's network interfaces
(primary or standby, link status, where local LAN failover put their addresses) and
heartbeat paths, each package's policies, services, subnets and node switching, the
membership epoch and coordinator, the lease and the last decision. -n shows only those
nodes and their packages, -p only those packages.
"""

import dataclasses
import json

from cluster.cli import viewpackages
from cluster.cli.args import (
    PACKAGE_NAME,
    CmArgumentParser,
    add_connection_options,
    add_nodes_option,
)
from cluster.core.model import ClusterView, NodeView
from cluster.errors import CmError, UsageError


def main(argv: list[str], prog: str = "cmviewcl") -> int:
    parser = CmArgumentParser(prog=prog, description="Show the status of the cluster.")
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    parser.add_argument("-f", dest="format", choices=("table", "line", "json"), default="table")
    parser.add_argument(
        "-l", dest="level", choices=("node", "package"), help="only nodes or packages"
    )
    add_nodes_option(parser, "only this node")
    parser.add_argument(
        "-p",
        dest="packages",
        action="append",
        default=[],
        type=PACKAGE_NAME,
        metavar="PKG",
        help="only this package",
    )
    add_connection_options(parser)
    args = parser.parse_args(argv)
    if args.nodes and args.packages:
        raise UsageError(f"-n and -p together: choose nodes or packages (see {prog} --help)")
    if args.packages and args.level == "node":
        raise UsageError(f"-p with -l node: packages are not shown (see {prog} --help)")

    from cluster.cli.connect import admin_client

    with admin_client(args) as client:
        view = client.view()
    level = args.level
    whole = view
    if args.nodes:
        view = only_nodes(view, args.nodes)
    if args.packages and view.cluster_name:
        view, level = only_packages(view, args.packages), "package"
    if args.format == "json":
        print(json.dumps(dataclasses.asdict(view), indent=2))
    elif args.format == "line":
        print("\n".join(lines(view)))
    else:
        print(table(view, args.verbose, level, filtered=bool(args.nodes), whole=whole))
    return 0


def only_nodes(view: ClusterView, names: list[str]) -> ClusterView:
    """The view of some nodes and the packages they run."""
    nodes = tuple(n for n in view.nodes if n.name in names)
    shown = {n.name for n in nodes}
    packages = tuple(p for p in view.packages if shown.intersection(viewpackages.owners(p)))
    return dataclasses.replace(view, nodes=nodes, packages=packages)


def only_packages(view: ClusterView, names: list[str]) -> ClusterView:
    """The view of some packages, in the order asked; CmError for one not configured."""
    by_name = {p.name: p for p in view.packages}
    missing = [name for name in names if name not in by_name]
    if missing:
        known = ", ".join(sorted(by_name)) or "none"
        raise CmError(f"no package named {', '.join(missing)} is configured (configured: {known})")
    packages = tuple(by_name[name] for name in dict.fromkeys(names))
    return dataclasses.replace(view, packages=packages)


def _status(view: ClusterView) -> str:
    return "up" if view.running else "down"


def table(
    view: ClusterView,
    verbose: bool,
    level: str | None,
    filtered: bool = False,
    whole: ClusterView | None = None,
) -> str:
    """The table; `whole` is the view before -n filtered it (the node switching rows
    show the status of nodes that are not shown)."""
    whole = whole or view
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
                out += _interfaces(node)
                out += _paths(view, node)
            if level != "node":
                packages = viewpackages.on_node(view, node.name)
                out += viewpackages.package_rows(whole, packages, node.name, verbose)
        if level != "node" and (unowned := viewpackages.unowned(view)):
            out += ["", "UNOWNED_PACKAGES"]
            out += viewpackages.package_rows(whole, unowned, viewpackages.UNOWNED, verbose)
    elif view.packages:
        out += viewpackages.flat_rows(view, verbose, whole)
    if level != "node" and not view.packages:
        none = (
            "(none of these nodes runs a package)" if filtered else "(no packages are configured)"
        )
        out += ["", f"  {none}"] if verbose else []
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
    if verbose and view.warnings:
        out += ["", *(f"  WARNING: {w}" for w in view.warnings)]
    return "\n".join(out)


def _interfaces(node: NodeView) -> list[str]:
    """Serviceguard's Network_Parameters, with where local LAN failover put addresses."""
    if not node.interfaces:
        return []
    rows = ["", "    Network_Parameters:", "    INTERFACE    STATUS       NAME       ADDRESSES"]
    for i in node.interfaces:
        kind = "STANDBY" if i.standby else "PRIMARY"
        if i.standby:
            where = f"those of {i.carrying}" if i.carrying else "none"
        else:
            where = f"moved to {i.carrying}" if i.carrying else "here"
        rows.append(f"    {kind:<12} {'up' if i.up else 'down':<12} {i.name:<10} {where}")
    return rows


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
        for i in node.interfaces:
            where = f"node:{node.name}|interface:{i.name}"
            out += [
                f"{where}|type={'standby' if i.standby else 'primary'}",
                f"{where}|status={'up' if i.up else 'down'}",
            ]
            if i.carrying:
                key = "carrying" if i.standby else "moved_to"
                out.append(f"{where}|{key}={i.carrying}")
        for p in node.paths:
            state = "up" if p.up else "down"
            out.append(f"node:{node.name}|heartbeat_path:{p.peer}:{p.network}|status={state}")
    if view.quorum is not None:
        state = "up" if view.quorum.reachable else "down"
        out.append(f"quorum_server:{view.quorum.host}|status={state}")
    return out + viewpackages.package_lines(view)
