"""cmrunpkg: run packages.

  cmrunpkg [-v] [-t [-f table|json]] [-n NODE] [-m MODULE] [-e MODULE]... PKG...

Starts each package on NODE, or where the placement engine chooses when -n is not
given (the first available node of its NODE_NAME list that may run it). A package that
fails to start on one node is not tried elsewhere: look at its log (cmlog -p PKG), then
run it again or on another node. Global switching (AUTO_RUN) is left as it is; enable
it with cmmodpkg -e PKG once the package runs where it should.

Partial start (Serviceguard's partial-startup maintenance mode; the package must be in
maintenance mode, cmmodpkg -m on): -m MODULE starts the modules up to and including
MODULE, -e MODULE all but MODULE (both: up to -m, except -e, which must come first).
The modules, in start order: sg/volume_group, sg/package_ip, sg/filesystem, sg/ocf,
sg/external (run and halt scripts), sg/service ("sg/" may be left out). On a package
running in part (or whose services were halted with cmhaltpkg -s), cmrunpkg starts
what is missing of it, with no outage of what runs.

-t prints what would happen (where each package would start, what else would start or
wait with it, or why it would be refused) and changes nothing; exit status 1 when it
would be refused.
"""

from cluster.cli.args import (
    PACKAGE_NAME,
    CmArgumentParser,
    add_connection_options,
    add_nodes_option,
)
from cluster.cli.preview import add_preview_options, preview_value, show
from cluster.errors import UsageError
from cluster.packages.modules import partial_start


def main(argv: list[str], prog: str = "cmrunpkg") -> int:
    parser = CmArgumentParser(
        prog=prog,
        description="Run packages.",
        epilog="Maintenance mode (cmmodpkg -m on), as Serviceguard's partial startup: -m "
        "MODULE starts the modules up to and including MODULE, -e MODULE all but MODULE "
        "(which must come before -m). Modules, in start order: sg/volume_group, "
        "sg/package_ip, sg/filesystem, sg/ocf, sg/external, sg/service ('sg/' may be left "
        "out). On a package running in part, cmrunpkg PKG starts what is missing.",
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    add_nodes_option(parser, "the node to run them on (default: the placement engine chooses)")
    parser.add_argument(
        "-m",
        dest="upto",
        metavar="MODULE",
        help="maintenance mode: start the modules up to and including MODULE only",
    )
    parser.add_argument(
        "-e",
        dest="exclude",
        action="append",
        default=[],
        metavar="MODULE",
        help="maintenance mode: start every module but MODULE (repeat)",
    )
    parser.add_argument(
        "packages", nargs="+", type=PACKAGE_NAME, metavar="PKG", help="package names"
    )
    add_preview_options(parser)
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
    try:
        modules = partial_start(args.upto, args.exclude)
    except ValueError as exc:
        raise UsageError(f"{exc} (see {prog} --help)") from None

    from cluster.cli.connect import admin_client

    with admin_client(args, timeout=900.0) as client:
        if args.preview:
            status = 0
            for pkg in packages:
                status |= show(prog, client.run_package(pkg, node, modules, preview_value(args)))
            return status
        return each_package(
            prog,
            packages,
            lambda pkg: client.run_package(pkg, node, modules),
            "run",
            args.verbose,
        )
