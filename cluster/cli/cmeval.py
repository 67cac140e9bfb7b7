"""cmeval: what would happen if... (Serviceguard's cmeval, and Pacemaker's crm_simulate).

  cmeval [-f table|json] [-C CLUSTER.ascii] [-P PKG.conf]... [--fail-node NODE]...
         [--subnet-down SUBNET[@NODE]]... [--halt-node NODE]... [--join-node NODE]...

The coordinator runs the placement engine on the live cluster with the change made to
it and carries its decisions out on paper until nothing is left to do: which packages
would start, halt or move where, in what order and why, and what would be left
waiting. -C/-P: the configuration those files would make (checked as cmcheckconf
checks it) applied; --fail-node: nodes crash (their packages fail over); --subnet-down:
a subnet fails on every node, or on NODE (packages that monitor it fail there);
--halt-node/--join-node: cmhaltnode/cmrunnode. Several together happen at once. The
same cluster state gives the same prediction; nothing is changed. Needs the monitor
role.
"""

from cluster.cli.args import (
    NODE_NAME,
    CmArgumentParser,
    add_config_file_options,
    add_connection_options,
)
from cluster.cli.preview import add_preview_options, evaluation, show

# Each what-if option: the EvaluateRequest field it fills.
WHAT_IFS = (
    ("--fail-node", "fail_nodes", "NODE", "this node crashes"),
    ("--subnet-down", "down_subnets", "SUBNET[@NODE]", "this subnet fails, everywhere or on NODE"),
    ("--halt-node", "halt_nodes", "NODE", "this node is halted (cmhaltnode)"),
    ("--join-node", "join_nodes", "NODE", "this node joins (cmrunnode)"),
)


def main(argv: list[str], prog: str = "cmeval") -> int:
    parser = CmArgumentParser(
        prog=prog,
        description="Predict what the cluster would do if nodes failed or halted, subnets "
        "went down, or a configuration were applied. Nothing is changed.",
    )
    add_config_file_options(parser, " to apply")
    for option, field, metavar, what in WHAT_IFS:
        parser.add_argument(
            option,
            dest=field,
            action="append",
            default=[],
            type=NODE_NAME if metavar == "NODE" else str,
            metavar=metavar,
            help=f"{what} (repeat)",
        )
    parser.add_argument(
        "-v", dest="verbose", action="store_true", help="(accepted; always verbose)"
    )
    add_preview_options(parser, always=True)
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.confcommon import sources_request
    from cluster.cli.connect import admin_client

    config = sources_request(args.cluster, args.packages) if args.cluster or args.packages else None
    what_if = {field: getattr(args, field) for _, field, _, _ in WHAT_IFS}
    request = evaluation(args.format, config=config, **what_if)
    with admin_client(args, timeout=120.0) as client:
        return show(prog, client.evaluate(request))
