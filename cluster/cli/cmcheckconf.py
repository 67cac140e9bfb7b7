"""cmcheckconf: check cluster and package files without changing anything.

  cmcheckconf [-v] [-C CLUSTER.ascii] [-P PKG.conf ...]

The files are checked together with the applied configuration they would join; every
node that may run a package is asked whether its scripts are there and, with -C, every
node whether it has the NETWORK_INTERFACEs and addresses the cluster file gives it.
Exit status 0 only when the configuration is valid.
"""

from cluster.cli.args import CmArgumentParser, add_config_file_options, add_connection_options
from cluster.errors import UsageError


def main(argv: list[str], prog: str = "cmcheckconf") -> int:
    parser = CmArgumentParser(prog=prog, description="Check configuration files.")
    add_config_file_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="say what is checked")
    add_connection_options(parser)
    args = parser.parse_args(argv)
    if args.cluster is None and not args.packages:
        raise UsageError("give the cluster file (-C) and/or package files (-P)")

    from cluster.cli.confcommon import print_problems, sources_request
    from cluster.cli.connect import admin_client

    request = sources_request(args.cluster, args.packages)
    if args.verbose:
        for name in [args.cluster, *args.packages]:
            if name:
                print(f"Checking {name}")
    with admin_client(args) as client:
        problems = client.check_config(request)
    errors = print_problems(problems)
    if errors:
        print(f"{prog}: Verification failed with {errors} error{'s' if errors > 1 else ''}.")
        return 1
    print(f"{prog}: Verification completed with no errors found.")
    print("Use the cmapplyconf command to apply the configuration.")
    return 0
