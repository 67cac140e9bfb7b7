"""cmhaltpkg: halt packages.

  cmhaltpkg [-v] [-n NODE]... PKG...

Halts each package wherever it runs, or only on the nodes named with -n (a multi_node
package may run on several). Halting a package turns its global switching (AUTO_RUN)
off, so it stays down until cmrunpkg, or cmmodpkg -e, as in Serviceguard.

A halt that cannot release everything (a filesystem still in use, a volume group that
would not deactivate, ...) fails: the package is unclean (halt aborted) and starts on
no node until halted cleanly. Free what is held, then run cmhaltpkg again; a lazily
detached filesystem also clears it by itself once its last user is gone.
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
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    add_nodes_option(parser, "halt them on this node only (repeat; default: wherever they run)")
    parser.add_argument(
        "packages", nargs="+", type=PACKAGE_NAME, metavar="PKG", help="package names"
    )
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.packagecmd import checked_names, each_package, one_after_another

    packages = checked_names(args.packages, args.nodes)
    nodes: list[str] = list(dict.fromkeys(args.nodes)) or [""]

    from cluster.cli.connect import admin_client

    with admin_client(args, timeout=900.0) as client:

        def halt(package: str) -> "Iterator[str | Outcome]":
            steps = [partial(client.halt_package, package, node) for node in nodes]
            return one_after_another(steps)

        return each_package(prog, packages, halt, "halt", args.verbose)
