"""cmdeleteconf: remove a package's, or the whole cluster's, configuration on every node.

  cmdeleteconf [-f] [-c CLUSTER] [-p PKG]

Refused while the package (or the cluster) runs. Deleting the cluster's configuration
leaves a newer, empty generation behind, so a node that was down cannot bring the old
configuration back.
"""

from cluster.cli.args import PACKAGE_NAME, CmArgumentParser, add_connection_options
from cluster.errors import CmError


def main(argv: list[str], prog: str = "cmdeleteconf") -> int:
    parser = CmArgumentParser(prog=prog, description="Delete configuration on every node.")
    parser.add_argument(
        "-c", dest="cluster", metavar="CLUSTER", help="the cluster's name (checked)"
    )
    parser.add_argument(
        "-p", dest="package", type=PACKAGE_NAME, metavar="PKG", help="only this package"
    )
    parser.add_argument("-f", dest="force", action="store_true", help="do not ask for confirmation")
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.confcommon import confirm, follow
    from cluster.cli.connect import admin_client
    from cluster.config.compile import decode_config

    with admin_client(args, timeout=300.0) as client:
        blob = client.get_config()
        if blob is None or not blob.config:
            raise CmError("no configuration is applied on this node")
        name = decode_config(blob).cluster.name
        if args.cluster and args.cluster != name:
            raise CmError(f"this node belongs to cluster {name}, not {args.cluster}")
        what = f"package {args.package}" if args.package else f"cluster {name}"
        confirm(f"Delete the configuration of {what}", args.force)
        outcome = follow(client.delete_config(args.package or ""))
    if not outcome.ok:
        print(f"{prog}: {outcome.message}")
        return 1
    print(f"{prog}: Deleted the configuration of {what}.")
    return 0
