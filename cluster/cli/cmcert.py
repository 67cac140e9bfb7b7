"""cmcert: the cluster CA and its certificates.

  cmcert init-ca [--dir DIR] [--cluster NAME] [--days N] [--force]
  cmcert issue --node NAME [--dir DIR] [-o FILE] [--days N] [--force]
  cmcert issue --quorum-server NAME [--dir DIR] [-o FILE] [--days N] [--force]
  cmcert issue --user NAME --role ROLE [--dir DIR] [-o FILE] [--days N] [--force]
  cmcert install BUNDLE [--node NAME] [--force]   (a running cmcld/cmqsd takes it at once)
  cmcert show FILE [--crl CRL [--ca CA_FILE]]
  cmcert list [--dir DIR]
  cmcert revoke FILE... | --serial HEX... | --node NAME | --user NAME | --quorum-server NAME
                [--reason REASON] [--dir DIR]

Certificates replace rcp and .rhosts trust: every node and operator proves who it is
with a certificate from the cluster CA. The CA directory keeps every certificate it
issued (issued/SERIAL.pem), so one can be revoked by the name it was issued to; a
revocation rewrites the CA's CRL (ca.crl), which cmapplyconf --crl distributes.
"""

import argparse
from pathlib import Path

from cluster.cli.args import CmArgumentParser
from cluster.errors import UsageError
from cluster.names import (
    cluster_name_problem,
    node_name_problem,
    quorum_server_name_problem,
    shown,
    user_name_problem,
)
from cluster.paths import HostPaths, local_node_name

ROLES = ("monitor", "package_admin", "full_admin")
MAX_DAYS = 36500  # as ca.MAX_DAYS; repeated so parsing needs no cryptography
REASONS = (
    "unspecified",
    "key_compromise",
    "superseded",
    "cessation_of_operation",
    "affiliation_changed",
)


def _days(text: str) -> int:
    """--days as a bounded number: a huge one overflowed a date deep in the CA."""
    digits = text.strip().lstrip("+-")
    try:
        # int() refuses more than 4300 digits; such a number is merely out of range.
        days = int(text) if len(digits) <= 9 or not digits.isdigit() else MAX_DAYS + 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {shown(text)}") from None
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_DAYS} days, not {shown(text)}")
    return days


def _serial(text: str) -> int:
    """A serial as cmcert list/show print it (0x1f2e...), or as openssl does (1F:2E:...)."""
    digits = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        if not 0 < len(digits) <= 40:
            raise ValueError
        serial = int(digits, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a certificate serial in hex: {shown(text)}"
        ) from None
    if serial == 0:
        raise argparse.ArgumentTypeError("a certificate serial is never 0")
    return serial


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
    init.add_argument(
        "--days", type=_days, default=3650, help=f"validity, 1 to {MAX_DAYS} (default 3650)"
    )
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
    issue.add_argument(
        "--days", type=_days, default=730, help=f"validity, 1 to {MAX_DAYS} (default 730)"
    )
    issue.add_argument("--force", action="store_true", help="replace an existing bundle file")

    install = sub.add_parser("install", help="install a node bundle into this host's tls/")
    install.add_argument("bundle", type=Path, metavar="BUNDLE")
    install.add_argument("--node", help="this node's name (default: $CMCLUSTER_NODE or host name)")
    install.add_argument("--force", action="store_true", help="replace installed credentials")

    show = sub.add_parser("show", help="describe the certificates and key in a PEM file")
    show.add_argument("file", type=Path, metavar="FILE")
    show.add_argument("--crl", type=Path, help="also say which certificates this CRL revokes")
    show.add_argument(
        "--ca", type=Path, metavar="CA_FILE", help="the CA that signed the CRL, if not in FILE"
    )

    listing = sub.add_parser("list", help="every certificate the CA issued, and its state")
    listing.add_argument(
        "--dir", type=Path, default=paths.ca_dir, help=f"CA directory (default {paths.ca_dir})"
    )

    revoke = sub.add_parser(
        "revoke",
        help="revoke certificates: rewrites the CA's CRL (ca.crl in the CA directory)",
        description="Revoke certificates, named one way: by file, by serial, or every "
        "certificate of a node, user or quorum server (from the CA's index, issued/). "
        "Rewrites CA_DIR/ca.crl, signed by the CA, with the next CRL number and every "
        "earlier entry. Then distribute it: cmapplyconf --crl CA_DIR/ca.crl (for a quorum "
        "server: put it in its tls/ca.crl).",
    )
    revoke.add_argument(
        "files", type=Path, nargs="*", metavar="FILE", help="certificate or bundle files"
    )
    revoke.add_argument(
        "--serial",
        type=_serial,
        action="append",
        default=[],
        metavar="HEX",
        help="a serial as cmcert list or show print it (may be repeated)",
    )
    revoke.add_argument("--node", metavar="NAME", help="every certificate of this node")
    revoke.add_argument("--user", metavar="NAME", help="every certificate of this user")
    revoke.add_argument(
        "--quorum-server", metavar="NAME", help="every certificate of this quorum server"
    )
    revoke.add_argument("--reason", choices=REASONS, help="recorded in the CRL")
    revoke.add_argument(
        "--dir", type=Path, default=paths.ca_dir, help=f"CA directory (default {paths.ca_dir})"
    )
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
        _tell_daemon(paths)
    elif args.action == "revoke":
        from cluster.cli.certrevoke import revoke_main

        revoke_main(args)
    elif args.action == "list":
        from cluster.cli.certrevoke import list_main

        list_main(args)
    else:
        _show(args)
    return 0


def _show(args: argparse.Namespace) -> None:
    from cluster.security import ca

    data = _read(args.file)
    note = None
    if args.crl is not None:
        from cluster.cli.certrevoke import revocation_note

        note = revocation_note(args.crl, data, str(args.file), args.ca)
    elif args.ca is not None:
        raise UsageError("--ca names the CA of a CRL: give --crl too")
    for line in ca.describe(data, str(args.file), note):
        print(line)


def _issue(args: argparse.Namespace) -> None:
    from cluster.security import ca
    from cluster.security.identity import Identity, Kind
    from cluster.security.issued import record_issued

    if args.node is not None or args.quorum_server is not None:
        if args.role:
            raise UsageError("--role applies to --user; node and server certificates carry no role")
        if args.node is not None:
            _check(node_name_problem(args.node))
            identity = Identity(Kind.NODE, args.node)
        else:
            _check(quorum_server_name_problem(args.quorum_server))
            identity = Identity(Kind.QUORUM_SERVER, args.quorum_server)
    else:
        _check(user_name_problem(args.user))
        if not args.role:
            raise UsageError(f"--user needs --role ({', '.join(ROLES)})")
        identity = Identity(Kind.USER, args.user, ca.role_of(args.role))
    authority = ca.load_ca(args.dir)
    issued = ca.issue(authority, identity, days=args.days)
    out: Path = args.out or Path(f"{identity.name}.pem")
    # Indexed before the bundle exists: no certificate leaves that revoke --node misses.
    record_issued(authority, issued.certificate)
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


def _tell_daemon(paths: HostPaths) -> None:
    """A running cmcld or cmqsd uses newly installed credentials from its next
    connection on when signalled (SIGHUP): rotation needs no restart, no outage."""
    import os
    import signal

    from cluster.daemon.pidlock import lock_holder

    for pid_file in (paths.cmcld_pid, paths.run_dir / "cmqsd.pid"):
        holder = lock_holder(pid_file)
        if holder is None or holder[1] not in ("cmcld", "cmqsd"):
            continue
        pid, program = holder
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as exc:
            print(f"could not signal {program} (pid {pid}): {exc.strerror}; run: kill -HUP {pid}")
            continue
        print(f"told {program} (pid {pid}) to use them; its log says whether it did")
