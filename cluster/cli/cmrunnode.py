"""cmrunnode: start nodes: they join the running cluster.

cmrunnode [-v] [-t [-f table|json]] [NODE ...]          (default: this node)

-t: print which packages would start or move when the nodes join; nothing changes (the
prediction comes from the running cluster: give it on a member, naming the nodes).
"""

from cluster.cli.args import NODE_NAME, CmArgumentParser, add_connection_options
from cluster.cli.preview import add_preview_options, evaluation, show


def main(argv: list[str], prog: str = "cmrunnode") -> int:
    parser = CmArgumentParser(prog=prog, description="Start nodes in the running cluster.")
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    parser.add_argument(
        "nodes", nargs="*", type=NODE_NAME, metavar="NODE", help="default: this node"
    )
    add_preview_options(parser)
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.clustercmd import finish
    from cluster.cli.connect import admin_client

    if args.preview:
        request = evaluation(args.format, join_nodes=args.nodes, join_this_node=not args.nodes)
        with admin_client(args, timeout=120.0) as client:
            return show(prog, client.evaluate(request))
    status = 0
    with admin_client(args, timeout=900.0) as client:
        for node in args.nodes or [""]:
            who = node or "this node"
            status |= finish(prog, client.run_node(node), f"Started {who}.")
    return status
