"""cmapplyconf: check, compile and distribute the configuration to every node.

  cmapplyconf [-v] [-f] [-t [--format table|json]] [-C CLUSTER.ascii] [-P PKG.conf ...]
              [--crl CA_DIR/ca.crl]

All or nothing: every node of the old and new configuration stages the new
generation before any commits it; a node that misses the commit catches up.
`-P` adds or replaces those packages and keeps the others. `--crl` distributes the
cluster CA's revocation list (made by `cmcert revoke`) with the configuration: every
node then refuses the revoked certificates; later applies keep it until a newer one.
-t prints which packages would start, halt or move once the files are applied (the same
as cmeval -C/-P), and applies nothing.
"""

from pathlib import Path

from cluster.cli.args import CmArgumentParser, add_config_file_options, add_connection_options
from cluster.cli.preview import add_preview_options, evaluation, show
from cluster.errors import UsageError


def main(argv: list[str], prog: str = "cmapplyconf") -> int:
    parser = CmArgumentParser(prog=prog, description="Apply configuration files to the cluster.")
    add_config_file_options(parser)
    parser.add_argument(
        "--crl",
        metavar="FILE",
        help="the cluster CA's certificate revocation list (cmcert revoke writes "
        "CA_DIR/ca.crl); applied only when not older than the one in force",
    )
    parser.add_argument("-f", dest="force", action="store_true", help="do not ask for confirmation")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each step")
    add_preview_options(parser, short_format=False)
    add_connection_options(parser)
    args = parser.parse_args(argv)
    if args.preview and (args.cluster or args.packages):
        from cluster.cli.confcommon import sources_request
        from cluster.cli.connect import admin_client

        config = sources_request(args.cluster, args.packages)
        with admin_client(args, timeout=120.0) as client:
            return show(prog, client.evaluate(evaluation(args.format, config=config)))
    if args.preview:
        raise UsageError("-t: give the cluster file (-C) and/or package files (-P) to preview")
    if args.cluster is None and not args.packages and args.crl is None:
        raise UsageError("give the cluster file (-C), package files (-P) and/or --crl FILE")
    crl = read_crl(Path(args.crl)) if args.crl else b""

    from cluster.cli.confcommon import confirm, follow, print_problems, sources_request
    from cluster.cli.connect import admin_client
    from cluster.pb.v1 import config_pb2

    request = sources_request(args.cluster, args.packages)
    problems = []
    with admin_client(args, timeout=300.0) as client:
        if not args.force:
            problems = client.check_config(request)
            if print_problems(problems):
                print(f"{prog}: Verification failed; nothing was applied.")
                return 1
            confirm("Modify the cluster configuration", force=False)
        progress = client.apply_config(
            config_pb2.ApplyConfigRequest(sources=request, force=True, revocation_list=crl)
        )
        outcome = follow(progress, shown=problems)
    if not outcome.ok:
        print(f"{prog}: {outcome.message}")
        return 1
    print(f"{prog}: Completed the cluster update.")
    return 0


def read_crl(path: Path) -> bytes:
    """The CRL file's bytes (the daemon verifies its signature); one clear line when
    it is not a readable regular file of reasonable size."""
    from cluster.hostfiles import RefusedFile, read_regular
    from cluster.security.pem import MAX_CRL_BYTES

    try:
        data = read_regular(path, MAX_CRL_BYTES)
    except RefusedFile as exc:
        raise UsageError(f"--crl {path}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"--crl {path}: {exc.strerror}") from None
    if b"-----BEGIN X509 CRL-----" not in data:
        raise UsageError(f"--crl {path}: no PEM CRL in it (cmcert revoke writes CA_DIR/ca.crl)")
    return data
