"""cmquerycl: ask nodes' cmcld for their networks and show them, as Serviceguard does.

  cmquerycl [-v] [-n NODE ...] [-f table|json]
  cmquerycl -n NODE ... -C FILE [-q QS_HOST] [--cluster NAME]

The local cmcld collects each node's interfaces over mutual TLS (configured nodes at
their configured addresses, others by name through the host's resolver). With -C it
writes a commented cluster file with heartbeat and stationary IPs filled in.
"""

import dataclasses
import json
import sys

from cluster.cli.args import CmArgumentParser, add_connection_options, add_nodes_option
from cluster.core.model import NodeInfo, NodeQuery
from cluster.errors import UsageError
from cluster.network.subnets import heartbeat_candidates, shared_subnets


def main(argv: list[str], prog: str = "cmquerycl") -> int:
    parser = CmArgumentParser(
        prog=prog, description="Show the network interfaces and subnets of cluster nodes."
    )
    add_nodes_option(parser, "a node to query (repeat; default: this node)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="every interface of every node"
    )
    parser.add_argument("-f", dest="format", choices=("table", "json"), default="table")
    parser.add_argument("-C", dest="template", metavar="FILE", help="write a cluster file template")
    parser.add_argument("-q", dest="qs_host", metavar="QS_HOST", help="quorum server for -C")
    parser.add_argument(
        "--cluster",
        default="cluster1",
        metavar="NAME",
        help="CLUSTER_NAME for -C (default cluster1)",
    )
    add_connection_options(parser)
    args = parser.parse_args(argv)
    if args.qs_host and not args.template:
        raise UsageError("-q goes with -C")

    from cluster.cli.connect import admin_client

    with admin_client(args) as client:
        results = client.query_nodes(args.nodes)
    if args.template:
        return write_template(prog, args.template, args.cluster, args.qs_host, results)
    if args.format == "json":
        print(json.dumps([_as_json(r) for r in results], indent=2))
    else:
        print(render(results, verbose=args.verbose))
    failed = [r for r in results if r.info is None]
    for r in failed:
        print(f"{prog}: cannot query node {r.node_name}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def write_template(
    prog: str, path: str, cluster: str, qs_host: str | None, results: list[NodeQuery]
) -> int:
    from pathlib import Path

    from cluster.atomicfile import save_file
    from cluster.config.templates import render_cluster_template
    from cluster.names import cluster_name_problem

    problem = cluster_name_problem(cluster)
    if problem:
        raise UsageError(problem)
    failed = [r for r in results if r.info is None]
    if failed:
        for r in failed:
            print(f"{prog}: cannot query node {r.node_name}: {r.error}", file=sys.stderr)
        print(f"{prog}: no template written: every node must answer", file=sys.stderr)
        return 1
    infos = [r.info for r in results if r.info is not None]
    text = render_cluster_template(cluster, infos, qs_host=qs_host)
    save_file(Path(path), text.encode(), 0o644)
    print(f"Wrote {path} for nodes {', '.join(i.node_name for i in infos)}.")
    print(f"Edit it, then check it with cmcheckconf -C {path}.")
    return 0


def _as_json(result: NodeQuery) -> dict[str, object]:
    return {
        "node_name": result.node_name,
        "info": dataclasses.asdict(result.info) if result.info else None,
        "error": result.error or None,
    }


def render(results: list[NodeQuery], verbose: bool = False) -> str:
    infos: list[NodeInfo] = [r.info for r in results if r.info is not None]
    out: list[str] = []
    names = [i.node_name for i in infos]
    out.append(f"Node Names:    {names[0] if names else '(none reached)'}")
    out.extend(f"               {name}" for name in names[1:])
    out.append("")
    nets = shared_subnets(infos)
    out.append("IP subnets:")
    for family, label in ((False, "IPv4"), (True, "IPv6")):
        rows = [n for n in nets if n.ipv6 == family]
        if not rows:
            continue
        out += ["", f"{label}:", ""]
        for net in rows:
            for i, a in enumerate(net.attachments):
                first = net.subnet if i == 0 else ""
                state = "" if a.link_up else "  link down"
                out.append(f"{first:<22} {a.interface:<12} ({a.node}){state}")
    out += ["", "Possible Heartbeat IPs:", ""]
    candidates = heartbeat_candidates(infos)
    if not candidates:
        out.append("(no subnet connects every node)")
    for net in candidates:
        for i, a in enumerate(net.attachments):
            first = net.subnet if i == 0 else ""
            out.append(f"{first:<22} {a.address:<20} ({a.node})")
    if verbose:
        for info in infos:
            out += ["", f"Node {info.node_name} (cmcluster {info.version}, kernel {info.kernel}):"]
            for iface in info.interfaces:
                link = "up" if iface.link_up else "down"
                addrs = " ".join(f"{a.address}/{a.prefix_len}" for a in iface.addresses) or "-"
                master = f" master {iface.master}" if iface.master else ""
                out.append(
                    f"  {iface.name:<12} {link:<5} {iface.mac or '-':<18} mtu {iface.mtu:<6}"
                    f"{master} {addrs}"
                )
            if info.counters:
                counts = ", ".join(f"{k} {v}" for k, v in sorted(info.counters.items()))
                out.append(f"  transport: {counts}")
    return "\n".join(out)
