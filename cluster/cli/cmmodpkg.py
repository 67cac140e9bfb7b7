"""cmmodpkg: enable or disable a package's switching.

  cmmodpkg {-e|-d} [-n NODE]... [-v] PKG...

Without -n: global switching (AUTO_RUN). -e lets the package start, and move to
another node when it fails; it also clears the package's failure history, so nodes
where it failed may run it again. -d keeps it where it is (or down).
With -n: node switching, whether the package may run on those nodes.
"""

from cluster.cli.args import (
    PACKAGE_NAME,
    CmArgumentParser,
    add_connection_options,
    add_nodes_option,
)
from cluster.errors import UsageError


def main(argv: list[str], prog: str = "cmmodpkg") -> int:
    parser = CmArgumentParser(prog=prog, description="Enable or disable package switching.")
    parser.add_argument(
        "-e",
        dest="enable",
        action="store_true",
        help="enable switching (and clear the failure history)",
    )
    parser.add_argument("-d", dest="disable", action="store_true", help="disable switching")
    add_nodes_option(
        parser, "node switching on this node (repeat; default: global switching, AUTO_RUN)"
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    parser.add_argument(
        "packages", nargs="+", type=PACKAGE_NAME, metavar="PKG", help="package names"
    )
    add_connection_options(parser)
    args = parser.parse_args(argv)

    if args.enable and args.disable:
        raise UsageError(
            f"-e and -d together: give -e to enable switching or -d to disable it "
            f"(see {prog} --help)"
        )
    if not (args.enable or args.disable):
        raise UsageError(
            f"say what to change: -e to enable switching or -d to disable it (see {prog} --help)"
        )

    from cluster.cli.packagecmd import checked_names, each_package

    packages = checked_names(args.packages, args.nodes)
    nodes = list(dict.fromkeys(args.nodes))
    enable: bool = args.enable

    from cluster.cli.connect import admin_client

    with admin_client(args, timeout=900.0) as client:
        return each_package(
            prog,
            packages,
            lambda pkg: client.modify_package(pkg, enable, nodes),
            "change the switching of",
            args.verbose,
        )
