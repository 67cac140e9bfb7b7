"""cmhaltcl: halt the cluster on every node.

  cmhaltcl [-v] [-f] [-t [--format table|json]]

Refused while packages run unless -f, which halts them first (packages arrive with the
package runner; until then there is nothing for -f to halt).
"""

from cluster.cli.args import CmArgumentParser, add_connection_options
from cluster.cli.preview import add_preview_options, evaluation, show


def main(argv: list[str], prog: str = "cmhaltcl") -> int:
    parser = CmArgumentParser(prog=prog, description="Halt the cluster.")
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    parser.add_argument("-f", dest="force", action="store_true", help="halt running packages first")
    add_preview_options(parser, short_format=False)
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.clustercmd import finish
    from cluster.cli.connect import admin_client

    if args.preview:
        with admin_client(args, timeout=120.0) as client:
            return show(prog, client.evaluate(evaluation(args.format, halt_cluster=True)))
    with admin_client(args, timeout=900.0) as client:
        return finish(prog, client.halt_cluster(args.force), "Cluster halted.")
