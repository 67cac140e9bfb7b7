"""cmcert: the cluster CA and its certificates.

  cmcert init-ca [--dir DIR] [--cluster NAME] [--days N] [--force]
  cmcert issue --node NAME [--dir DIR] [-o FILE] [--days N] [--force]
  cmcert issue --quorum-server NAME [--dir DIR] [-o FILE] [--days N] [--force]
  cmcert issue --user NAME --role ROLE [--dir DIR] [-o FILE] [--days N] [--force]
  cmcert install BUNDLE [--node NAME] [--force]
  cmcert show FILE

Certificates replace rcp and .rhosts trust: every node and operator proves who it is
with a certificate from the cluster CA.
"""

import argparse
from pathlib import Path

from cluster.cli.args import CmArgumentParser
from cluster.errors import UsageError
from cluster.names import cluster_name_problem, node_name_problem, user_name_problem
from cluster.paths import HostPaths, local_node_name

ROLES = ("monitor", "package_admin", "full_admin")


def build_parser(prog: str) -> argparse.ArgumentParser:
    paths = HostPaths.from_env()
    parser = CmArgumentParser(
        prog=prog,
        description="Create the cluster CA and issue, install and inspect certificates.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    init = sub.add_parser("init-ca", help="create the cluster CA (ca.crt, ca.key 0600)")
    init.add_argument(
        "--dir", type=Path, default=paths.ca_dir, help=f"CA directory (default {paths.ca_dir})"
    )
    init.add_argument("--cluster", default="cluster", help="cluster name in the CA's subject")
    init.add_argument("--days", type=int, default=3650, help="validity (default 3650)")
    init.add_argument("--force", action="store_true", help="replace an existing CA")

    issue = sub.add_parser("issue", help="issue a node or user certificate as one bundle file")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--node", metavar="NAME", help="a cluster node (its host name)")
    who.add_argument("--quorum-server", metavar="NAME", help="a quorum server host (cmqsd)")
    who.add_argument("--user", metavar="NAME", help="an operator")
    issue.add_argument("--role", choices=ROLES, help="the operator's role (with --user)")
    issue.add_argument(
        "--dir", type=Path, default=paths.ca_dir, help=f"CA directory (default {paths.ca_dir})"
    )
    issue.add_argument("-o", "--out", type=Path, help="bundle file (default ./NAME.pem)")
    issue.add_argument("--days", type=int, default=730, help="validity (default 730)")
    issue.add_argument("--force", action="store_true", help="replace an existing bundle file")

    install = sub.add_parser("install", help="install a node bundle into this host's tls/")
    install.add_argument("bundle", type=Path, metavar="BUNDLE")
    install.add_argument("--node", help="this node's name (default: $CMCLUSTER_NODE or host name)")
    install.add_argument("--force", action="store_true", help="replace installed credentials")

    show = sub.add_parser("show", help="describe the certificates and key in a PEM file")
    show.add_argument("file", type=Path, metavar="FILE")
    return parser


def main(argv: list[str], prog: str = "cmcert") -> int:
    args = build_parser(prog).parse_args(argv)
    # cryptography is imported only now: parsing errors above stay instant.
    from cluster.security import ca

    if args.action == "init-ca":
        _check(cluster_name_problem(args.cluster))
        authority = ca.init_ca(args.dir, args.cluster, days=args.days, force=args.force)
        print(
            f"created cluster CA in {args.dir} ({ca.CA_CERT}, {ca.CA_KEY} mode 0600), "
            f"valid until {authority.certificate.not_valid_after_utc:%Y-%m-%d}; "
            "keep ca.key off the cluster nodes if you can"
        )
    elif args.action == "issue":
        _issue(args)
    elif args.action == "install":
        from cluster.security.bundle import install_node_bundle

        paths = HostPaths.from_env()
        node = local_node_name(args.node)
        name = install_node_bundle(paths, args.bundle, node, args.force)
        print(f"installed credentials of {name} in {paths.tls_dir}")
    else:
        for line in ca.describe(_read(args.file), str(args.file)):
            print(line)
    return 0


def _issue(args: argparse.Namespace) -> None:
    from cluster.security import ca
    from cluster.security.identity import Identity, Kind

    if args.node is not None or args.quorum_server is not None:
        if args.role:
            raise UsageError("--role applies to --user; node and server certificates carry no role")
        kind = Kind.NODE if args.node is not None else Kind.QUORUM_SERVER
        name = args.node if args.node is not None else args.quorum_server
        _check(node_name_problem(name))
        identity = Identity(kind, name)
    else:
        _check(user_name_problem(args.user))
        if not args.role:
            raise UsageError(f"--user needs --role ({', '.join(ROLES)})")
        identity = Identity(Kind.USER, args.user, ca.role_of(args.role))
    authority = ca.load_ca(args.dir)
    issued = ca.issue(authority, identity, days=args.days)
    out: Path = args.out or Path(f"{identity.name}.pem")
    ca.write_private(out, ca.bundle_bytes(issued, authority), args.force)
    until = f"{issued.certificate.not_valid_after_utc:%Y-%m-%d}"
    if identity.kind in (Kind.NODE, Kind.QUORUM_SERVER):
        print(
            f"wrote {out} for {identity} (valid until {until}); copy it to "
            f"{identity.name} and run there: cmcert install {out.name}"
        )
    else:
        print(
            f"wrote {out} for {identity} (valid until {until}); use it with "
            f"--cert {out.name} or CMCLUSTER_CERT"
        )


def _check(problem: str | None) -> None:
    if problem:
        raise UsageError(problem)


def _read(path: Path) -> bytes:
    from cluster.security.pem import read_file

    return read_file(path, "PEM file")
