"""cmmodpkg: enable or disable a package's switching; maintenance mode.

  cmmodpkg {-e|-d} [-n NODE]... [-v] [-t [-f table|json]] PKG...
  cmmodpkg -m {on|off} [-n NODE] [-v] PKG...

Without -n: global switching (AUTO_RUN). -e lets the package start, and move to
another node when it fails; it also clears the package's failure history, so nodes
where it failed may run it again. -d keeps it where it is (or down).
With -n: node switching, whether the package may run on those nodes.

-m on puts a failover package in maintenance mode on one node (Serviceguard's rules,
but where Serviceguard refuses while switching is on, -m on turns it off and -m off
turns it back on); a running package goes into maintenance where it runs, a halted one
on the node given with -n. While in maintenance
the cluster never starts, halts or moves it by itself: a failed service is not
restarted and a failure (service, monitored subnet, resource) is reported by cmviewcl,
not failed over; the operator may start it in part (cmrunpkg -m/-e) and halt its
services only (cmhaltpkg -s). Packages that depend on it must be halted with switching
disabled. If its node halts or fails, or the cluster halts, maintenance mode ends and
the package is not started again by itself (switching stays off). -m off requires the
package whole and healthy (or halted).

-t (with -e or -d) prints what the change would make happen (cmmodpkg -e can start or
move packages) and changes nothing.
"""

from cluster.cli.args import (
    PACKAGE_NAME,
    CmArgumentParser,
    add_connection_options,
    add_nodes_option,
)
from cluster.cli.preview import add_preview_options, preview_value, show
from cluster.errors import UsageError


def main(argv: list[str], prog: str = "cmmodpkg") -> int:
    parser = CmArgumentParser(
        prog=prog,
        description="Enable or disable package switching, or put a package in maintenance "
        "mode (-m on) and take it out (-m off).",
        epilog="Maintenance mode follows Serviceguard: the cluster then never starts, "
        "halts or moves the package by itself, a dead service is not restarted and a "
        "failure is shown, not failed over (cmrunpkg -m/-e, cmhaltpkg -s work on it); "
        "it is on the node where the package runs (halted: -n NODE); packages that depend "
        "on it must be halted with switching off; its node halting or failing, or the "
        "cluster halting, ends it and nothing restarts the package; -m off only while it "
        "is whole and healthy. One departure: where Serviceguard refuses -m on while "
        "switching is on, -m on turns switching off meanwhile and -m off turns it back on.",
    )
    parser.add_argument(
        "-e",
        dest="enable",
        action="store_true",
        help="enable switching (and clear the failure history)",
    )
    parser.add_argument("-d", dest="disable", action="store_true", help="disable switching")
    parser.add_argument(
        "-m",
        dest="maintenance",
        choices=("on", "off"),
        help="maintenance mode on or off (switching is off meanwhile; see --help)",
    )
    add_nodes_option(
        parser,
        "node switching on this node (repeat; default: global switching, AUTO_RUN); "
        "with -m on, the node of maintenance mode for a halted package",
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    parser.add_argument(
        "packages", nargs="+", type=PACKAGE_NAME, metavar="PKG", help="package names"
    )
    add_preview_options(parser)
    add_connection_options(parser)
    args = parser.parse_args(argv)

    chosen = [flag for flag, given in (("-e", args.enable), ("-d", args.disable)) if given]
    if args.maintenance is not None:
        chosen.append("-m")
    if len(chosen) > 1:
        raise UsageError(
            f"{' and '.join(chosen)} together: give one of -e, -d or -m (see {prog} --help)"
        )
    if not chosen:
        raise UsageError(
            "say what to change: -e to enable switching, -d to disable it, or -m on|off "
            f"for maintenance mode (see {prog} --help)"
        )
    if args.maintenance is not None and len(set(args.nodes)) > 1:
        raise UsageError("-m: maintenance mode is on one node, give at most one -n")

    from cluster.cli.packagecmd import checked_names, each_package

    packages = checked_names(args.packages, args.nodes)
    nodes = list(dict.fromkeys(args.nodes))
    enable: bool = args.enable
    maintenance = None if args.maintenance is None else args.maintenance == "on"
    what = "change the switching of" if maintenance is None else "change the maintenance mode of"

    from cluster.cli.connect import admin_client

    with admin_client(args, timeout=900.0) as client:
        if args.preview:
            if maintenance is not None:
                raise UsageError("-t cannot preview -m (as in Serviceguard)")
            status = 0
            for pkg in packages:
                change = client.modify_package(pkg, enable, nodes, None, preview_value(args))
                status |= show(prog, change)
            return status
        return each_package(
            prog,
            packages,
            lambda pkg: client.modify_package(pkg, enable, nodes, maintenance),
            what,
            args.verbose,
        )
