"""cmhaltnode: halt nodes: they leave the cluster through a decided membership.

  cmhaltnode [-v] [-f] [-t [--format table|json]] [NODE ...]    (default: this node)

Refused while the node runs packages unless -f, which moves or halts them first
(packages arrive with the package runner). Fails, naming them, when packages still hold
something on the node afterwards (a halt that was not clean): the node stays a member,
so its lease guard keeps covering them. -t prints where the node's packages would go
(or that they would halt), and changes nothing.
"""

from cluster.cli.args import NODE_NAME, CmArgumentParser, add_connection_options
from cluster.cli.preview import add_preview_options, evaluation, show


def main(argv: list[str], prog: str = "cmhaltnode") -> int:
    parser = CmArgumentParser(
        prog=prog,
        description="Halt nodes: their packages move away (or halt) first, then they leave "
        "the cluster. A node whose packages still hold something afterwards (a halt that "
        "was not clean) does not leave: the command fails naming them; free what is held, "
        "halt them again (cmhaltpkg), then run cmhaltnode again.",
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    parser.add_argument("-f", dest="force", action="store_true", help="move or halt packages first")
    parser.add_argument(
        "nodes", nargs="*", type=NODE_NAME, metavar="NODE", help="default: this node"
    )
    add_preview_options(parser, short_format=False)
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.clustercmd import finish
    from cluster.cli.connect import admin_client

    if args.preview:
        request = evaluation(args.format, halt_nodes=args.nodes, halt_this_node=not args.nodes)
        with admin_client(args, timeout=120.0) as client:
            return show(prog, client.evaluate(request))
    status = 0
    with admin_client(args, timeout=900.0) as client:
        for node in args.nodes or [""]:
            who = node or "this node"
            status |= finish(prog, client.halt_node(node, args.force), f"Halted {who}.")
    return status
