"""cmhaltpkg: halt packages.

  cmhaltpkg [-v] [-t [-f table|json]] [-n NODE]... [-s] PKG...

Halts each package wherever it runs, or only on the nodes named with -n (a multi_node
package may run on several). Halting a package turns its global switching (AUTO_RUN)
off, so it stays down until cmrunpkg, or cmmodpkg -e, as in Serviceguard.

A halt that cannot release everything (a filesystem still in use, a volume group that
would not deactivate, ...) fails: the package is unclean (halt aborted) and starts on
no node until halted cleanly. Free what is held, then run cmhaltpkg again; a lazily
detached filesystem also clears it by itself once its last user is gone.

-s (maintenance mode only, cmmodpkg -m on): halt the package's services only; its
addresses, filesystems and scripts stay up, and cmrunpkg PKG starts the services again.
(Serviceguard's -s halts what a partial start, cmrunpkg -m, started: a plain cmhaltpkg
does that here.) AUTO_RUN is not changed by -s.

-t prints what would happen (what would halt first, what would then be left waiting)
and changes nothing.
"""

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from cluster.cli.args import (
    PACKAGE_NAME,
    CmArgumentParser,
    add_connection_options,
    add_nodes_option,
)
from cluster.cli.preview import add_preview_options, preview_value, show
from cluster.packages.modules import SERVICES

if TYPE_CHECKING:
    from cluster.transport.client import Outcome


def main(argv: list[str], prog: str = "cmhaltpkg") -> int:
    parser = CmArgumentParser(
        prog=prog,
        description="Halt packages. A halt that cannot release everything (a filesystem "
        "still in use, a volume group that would not deactivate) fails and leaves the "
        "package unclean (cmviewcl -v: halt aborted): it starts on no node until halted "
        "cleanly. Free what is held and run cmhaltpkg again; a lazily detached filesystem "
        "also clears it by itself once its last user is gone.",
        epilog="-s (maintenance mode, cmmodpkg -m on) halts the package's services only; "
        "its addresses, filesystems and scripts stay up, and cmrunpkg PKG starts the "
        "services again. Serviceguard's -s halts what a partial start (cmrunpkg -m) "
        "started: a plain cmhaltpkg does that here.",
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    add_nodes_option(parser, "halt them on this node only (repeat; default: wherever they run)")
    parser.add_argument(
        "-s",
        dest="services_only",
        action="store_true",
        help="maintenance mode: halt the services only; the rest of the package stays up",
    )
    parser.add_argument(
        "packages", nargs="+", type=PACKAGE_NAME, metavar="PKG", help="package names"
    )
    add_preview_options(parser)
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.packagecmd import checked_names, each_package, one_after_another

    packages = checked_names(args.packages, args.nodes)
    nodes: list[str] = list(dict.fromkeys(args.nodes)) or [""]
    modules = SERVICES if args.services_only else ()

    from cluster.cli.connect import admin_client

    with admin_client(args, timeout=900.0) as client:
        if args.preview:
            status = 0
            for pkg in packages:
                for node in nodes:
                    progress = client.halt_package(pkg, node, modules, preview_value(args))
                    status |= show(prog, progress)
            return status

        def halt(package: str) -> "Iterator[str | Outcome]":
            steps = [partial(client.halt_package, package, node, modules) for node in nodes]
            return one_after_another(steps)

        return each_package(prog, packages, halt, "halt", args.verbose)
