"""cmruncl: start the cluster.

  cmruncl [-v] [-f] [-n NODE ...]

Forms the cluster with every configured node. -n names a subset: the operator's
assertion that the other nodes are down, so it asks for confirmation unless -f.
"""

from cluster.cli.args import CmArgumentParser, add_connection_options, add_nodes_option


def main(argv: list[str], prog: str = "cmruncl") -> int:
    parser = CmArgumentParser(prog=prog, description="Start the cluster.")
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose")
    add_nodes_option(parser, "form the cluster with these nodes only (repeat)")
    parser.add_argument("-f", dest="force", action="store_true", help="do not ask for confirmation")
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.clustercmd import finish
    from cluster.cli.confcommon import confirm
    from cluster.cli.connect import admin_client

    if args.nodes:
        print(
            "WARNING: starting the cluster on a subset of its nodes overrides the protection "
            "against two clusters at once. Be certain that the other nodes are down and run "
            "nothing of the cluster's (reboot them if in doubt)."
        )
        confirm(f"Start the cluster on {', '.join(args.nodes)} only", args.force)
    with admin_client(args, timeout=900.0) as client:
        return finish(prog, client.run_cluster(args.nodes), "Cluster successfully formed.")
