"""cmcert revoke, cmcert list and cmcert show --crl: the CA directory's revocation side.

Kept out of cmcert.py so the parser stays free of `cryptography` (a usage error is
instant) and each file stays short.
"""

import argparse
import datetime as dt
from pathlib import Path

from cryptography import x509

from cluster.errors import UsageError
from cluster.names import node_name_problem, quorum_server_name_problem, user_name_problem
from cluster.security import ca
from cluster.security.crl import crl_path, current_revocations, read_crls, revoke
from cluster.security.identity import Kind
from cluster.security.issued import IssuedCertificate, issued_certificates, of_identity
from cluster.security.pem import read_file, split_pem


def revoke_main(args: argparse.Namespace) -> None:
    """Revoke what the arguments name, write ca.crl, and say what to do next."""
    authority = ca.load_ca(args.dir)
    index = issued_certificates(args.dir)
    serials, whose = _chosen(args, authority, index)
    reason = x509.ReasonFlags[args.reason] if args.reason else None
    result = revoke(authority, serials, reason=reason)
    known = {e.serial: e for e in index}
    for serial in result.added:
        print(f"revoked {_about(serial, known)}")
    for serial in result.already:
        print(f"already revoked {_about(serial, known)}")
    path = crl_path(args.dir)
    crl = result.revocations
    if whose:
        count = _count(len(serials), "certificate")
        print(f"{whose}: {count}, {len(result.added)} newly revoked")
    if result.written:
        print(f"wrote {path} (CRL number {crl.number}, {len(crl.serials)} revoked in all)")
    else:
        print(f"nothing new to revoke: {path} is unchanged (CRL number {crl.number})")
    print(
        f"next: distribute it: cmapplyconf --crl {path} "
        "(for a quorum server: put it in its tls/ca.crl)"
    )


def _chosen(
    args: argparse.Namespace, authority: ca.CertificateAuthority, index: list[IssuedCertificate]
) -> tuple[list[int], str | None]:
    """The serials to revoke, and the identity they were chosen by (None: by file/serial)."""
    named = [
        (kind, name, problem)
        for kind, name, problem in (
            (Kind.NODE, args.node, node_name_problem),
            (Kind.USER, args.user, user_name_problem),
            (Kind.QUORUM_SERVER, args.quorum_server, quorum_server_name_problem),
        )
        if name is not None
    ]
    given = len(named) + bool(args.files) + bool(args.serial)
    if given != 1:
        raise UsageError(
            "say what to revoke, one way: FILE..., --serial HEX, or --node, --user "
            "or --quorum-server NAME"
        )
    if args.serial:
        return list(args.serial), None
    if args.files:
        return [s for path in args.files for s in _serials_in(path, authority)], None
    kind, name, check = named[0]
    problem = check(name)
    if problem:
        raise UsageError(problem)
    entries = of_identity(index, kind, name)
    if not entries:
        raise UsageError(
            f"no certificate of {kind.value} {name} in {args.dir / 'issued'} (one issued "
            "before the index existed: revoke it by FILE or --serial)"
        )
    return [e.serial for e in entries], f"{kind.value} {name}"


def _serials_in(path: Path, authority: ca.CertificateAuthority) -> list[int]:
    """The serials of the non-CA certificates in a certificate or bundle file."""
    blocks = split_pem(read_file(path, "certificate")).certificates
    try:
        certs = [x509.load_pem_x509_certificate(block) for block in blocks]
    except ValueError:
        raise UsageError(f"{path}: a corrupt certificate in it") from None
    leaves = [c for c in certs if not ca.is_ca(c)]
    if not leaves:
        raise UsageError(f"{path}: no certificate to revoke in it (a CA's only, or none)")
    for leaf in leaves:
        if not ca.signed_by(leaf, authority.certificate):
            raise UsageError(
                f"{path}: certificate {leaf.serial_number:#x} was not issued by the CA in "
                f"{authority.directory}"
            )
    return [leaf.serial_number for leaf in leaves]


def _about(serial: int, known: dict[int, IssuedCertificate]) -> str:
    entry = known.get(serial)
    if entry is None:
        return f"{serial:#x} (not in the index)"
    return f"{serial:#x} {entry.who} (valid until {entry.not_after:%Y-%m-%d})"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def list_main(args: argparse.Namespace) -> None:
    """Every certificate the CA issued: serial, identity, expiry, state."""
    authority = ca.load_ca(args.dir)
    index = issued_certificates(args.dir)
    crl = current_revocations(authority)
    revoked = crl.serials if crl else frozenset()
    now = dt.datetime.now(dt.UTC)
    if not index:
        print(f"no certificate in the index of {args.dir} yet (cmcert issue records each one)")
    else:
        rows = [("SERIAL", "IDENTITY", "VALID UNTIL", "STATE")]
        rows += [
            (f"{e.serial:#x}", e.who, f"{e.not_after:%Y-%m-%d}", _state(e, revoked, now))
            for e in index
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            padded = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
            print("  ".join([*padded, row[3]]))
    if crl is None:
        print(f"{crl_path(args.dir)}: none yet (nothing revoked)")
        return
    outside = len(revoked - {e.serial for e in index})
    also = f"; {_count(outside, 'revoked serial')} not in the index" if outside else ""
    print(f"{crl_path(args.dir)}: CRL number {crl.number}, {len(revoked)} revoked{also}")


def _state(entry: IssuedCertificate, revoked: frozenset[int], now: dt.datetime) -> str:
    if entry.serial in revoked:
        return "revoked"
    return ca.validity_problem(entry.certificate, now) or "valid"


def revocation_note(crl_file: Path, data: bytes, origin: str, ca_file: Path | None) -> ca.Note:
    """For `cmcert show --crl`: a note marking the revoked certificates of `data`.

    The CRL is checked against the CA certificates of the file shown and of `ca_file`."""
    cas = [c for c in _certificates(data, origin) if ca.is_ca(c)]
    if ca_file is not None:
        cas += _certificates(read_file(ca_file, "CA certificate"), str(ca_file))
    if not cas:
        raise UsageError(f"{origin}: holds no CA certificate to check the CRL with; add --ca FILE")
    lists = read_crls(crl_file, cas)
    by_issuer = {ca.fingerprint(c): c for c in cas}

    def note(cert: x509.Certificate) -> str | None:
        for crl in lists:
            issuer = by_issuer[crl.issuer_fingerprint]
            if crl.revoked(cert.serial_number) and ca.signed_by(cert, issuer):
                return f"REVOKED by CRL number {crl.number}"
        return None

    return note


def _certificates(data: bytes, origin: str) -> list[x509.Certificate]:
    try:
        return [x509.load_pem_x509_certificate(b) for b in split_pem(data).certificates]
    except ValueError:
        raise UsageError(f"{origin}: a corrupt certificate in it") from None
