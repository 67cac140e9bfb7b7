"""cmsetlog: show or change the log level of cmcld at run time (full_admin)."""

from cluster.cli.args import CmArgumentParser, add_connection_options

LEVELS = ("error", "warning", "info", "debug")


def main(argv: list[str], prog: str = "cmsetlog") -> int:
    parser = CmArgumentParser(
        prog=prog,
        description="Show cmcld's log level, or set it to LEVEL without a restart.",
    )
    parser.add_argument("level", nargs="?", choices=LEVELS, metavar="LEVEL", help=", ".join(LEVELS))
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.connect import admin_client

    with admin_client(args) as client:
        node, previous, level = client.set_log_level(args.level or "")
    if args.level:
        print(f"cmcld on {node}: log level {level} (was {previous})")
    else:
        print(f"cmcld on {node}: log level {level}")
    return 0
