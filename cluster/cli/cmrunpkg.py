"""cmrunpkg: run packages.

  cmrunpkg [-v] [-n NODE] PKG...

Starts each package on NODE, or where the placement engine chooses when -n is not
given (the first available node of its NODE_NAME list that may run it). A package that
fails to start on one node is not tried elsewhere: look at its log (cmlog -p PKG), then
run it again or on another node. Global switching (AUTO_RUN) is left as it is; enable
it with cmmodpkg -e PKG once the package runs where it should.
"""

from cluster.cli.args import (
    PACKAGE_NAME,
    CmArgumentParser,
    add_connection_options,
    add_nodes_option,
)
from cluster.errors import UsageError


def main(argv: list[str], prog: str = "cmrunpkg") -> int:
    parser = CmArgumentParser(prog=prog, description="Run packages.")
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    add_nodes_option(parser, "the node to run them on (default: the placement engine chooses)")
    parser.add_argument(
        "packages", nargs="+", type=PACKAGE_NAME, metavar="PKG", help="package names"
    )
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.packagecmd import checked_names, each_package

    if len(args.nodes) > 1:
        raise UsageError(
            f"-n given {len(args.nodes)} times: a package is started on one node; "
            "run cmrunpkg once per node for a multi_node package"
        )
    packages = checked_names(args.packages, args.nodes)
    node = args.nodes[0] if args.nodes else ""

    from cluster.cli.connect import admin_client

    with admin_client(args, timeout=900.0) as client:
        return each_package(
            prog, packages, lambda pkg: client.run_package(pkg, node), "run", args.verbose
        )
