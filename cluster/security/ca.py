"""The cluster certificate authority: creates the CA and issues node and user certificates.

Keys are ECDSA P-256 (gRPC's TLS stack refuses Ed25519 node keys). Private keys are
written 0600 through an atomic rename, so a crash never leaves a half-written or
world-readable key. An existing CA is never replaced without `force`, because every
certificate it issued would stop working.
"""

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster.atomicfile import save_file
from cluster.errors import UsageError
from cluster.names import (
    node_name_problem,
    quorum_server_name_problem,
    shown,
    user_name_problem,
)
from cluster.security.identity import (
    Identity,
    IdentityError,
    Kind,
    Role,
    identity_from_uris,
    node_uri,
    quorum_server_uri,
    role_uri,
    user_uri,
)
from cluster.security.pem import read_file, split_pem

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
DEFAULT_CA_DAYS = 3650
DEFAULT_LEAF_DAYS = 730
MAX_DAYS = 36500  # a hundred years: beyond that a date overflows, and no key lasts that long
ORGANIZATION = "cmcluster"
_CLOCK_SKEW = dt.timedelta(minutes=5)  # back-date not-before for hosts slightly behind


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    directory: Path

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    identity: Identity


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def init_ca(
    directory: Path, cluster_name: str, days: int = DEFAULT_CA_DAYS, force: bool = False
) -> CertificateAuthority:
    """Create the cluster CA in `directory` (ca.crt, and ca.key with mode 0600)."""
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    try:
        existing = [p.name for p in (cert_path, key_path) if p.exists()]
    except OSError as exc:
        raise UsageError(f"{directory}: cannot use: {exc.strerror}") from None
    if existing and not force:
        raise UsageError(
            f"{directory}: a CA exists already ({', '.join(existing)}); replacing it breaks "
            "every certificate it issued: use --force if you mean it"
        )
    _check_days(days)
    key = _new_key()
    now = _now()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, f"cmcluster CA {cluster_name}"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _set_aside_records(directory, now)
    # Key first: a CA certificate without its key would be useless, the reverse is not.
    save_file(key_path, _key_pem(key), 0o600)
    save_file(cert_path, _cert_pem(cert), 0o644)
    return CertificateAuthority(cert, key, directory)


def _set_aside_records(directory: Path, now: dt.datetime) -> None:
    """Move the replaced CA's CRL and index of issued certificates (crl.py, issued.py)
    out of the way: the new CA could not verify that CRL, and would revoke nothing by
    those serials. Renamed, not deleted: they still describe the old certificates."""
    for name in ("ca.crl", "issued"):
        path = directory / name
        try:
            if path.exists():
                path.rename(directory / f"{name}.before-{now:%Y%m%dT%H%M%S}")
        except OSError as exc:
            raise UsageError(f"{path}: cannot move aside: {exc.strerror}") from None


def load_ca(directory: Path) -> CertificateAuthority:
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if not cert_path.exists() and not key_path.exists():
        raise UsageError(f"{directory}: no cluster CA here; create one with: cmcert init-ca")
    cert = load_certificate(cert_path)
    key_data = read_file(key_path, "CA private key")
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{key_path}: not a valid unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"{key_path}: not an ECDSA key")
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise UsageError(f"{key_path}: this key does not belong to {cert_path}")
    return CertificateAuthority(cert, key, directory)


def load_certificate(path: Path) -> x509.Certificate:
    blocks = split_pem(read_file(path, "certificate")).certificates
    if not blocks:
        raise UsageError(f"{path}: no PEM certificate in it (corrupt file?)")
    try:
        return x509.load_pem_x509_certificate(blocks[0])
    except ValueError as exc:
        raise UsageError(f"{path}: not a valid certificate ({exc})") from None


def issue(
    ca: CertificateAuthority,
    identity: Identity,
    days: int = DEFAULT_LEAF_DAYS,
    not_before: dt.datetime | None = None,
) -> Issued:
    """Issue a certificate for a node or a user; `not_before` back-dates it (tests)."""
    if identity.kind is Kind.LOCAL_ROOT:
        raise UsageError("root on a node needs no certificate")
    name_problem = {
        Kind.NODE: node_name_problem,
        Kind.QUORUM_SERVER: quorum_server_name_problem,
        Kind.USER: user_name_problem,
    }.get(identity.kind)
    if name_problem is None:
        raise UsageError(f"a {identity.kind.value} needs no certificate")
    problem = name_problem(identity.name)
    if problem:
        raise UsageError(problem)
    _check_days(days)
    start = not_before or (_now() - _CLOCK_SKEW)
    end = min(start + dt.timedelta(days=days), ca.certificate.not_valid_after_utc)
    key = _new_key()
    names: list[x509.GeneralName]
    if identity.kind in (Kind.NODE, Kind.QUORUM_SERVER):
        uri = node_uri if identity.kind is Kind.NODE else quorum_server_uri
        names = [
            x509.DNSName(identity.name),
            x509.UniformResourceIdentifier(uri(identity.name)),
        ]
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    else:
        assert identity.role is not None
        names = [
            x509.UniformResourceIdentifier(user_uri(identity.name)),
            x509.UniformResourceIdentifier(role_uri(identity.role)),
        ]
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.kind.value),
            x509.NameAttribute(NameOID.COMMON_NAME, identity.name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key, identity)


def _check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be 1 to {MAX_DAYS}, not {days}")


def bundle_bytes(issued: Issued, ca: CertificateAuthority) -> bytes:
    """One PEM file: leaf certificate, CA certificate, private key, with a how-to header."""
    ident = issued.identity
    if ident.kind in (Kind.NODE, Kind.QUORUM_SERVER):
        how = f"# Copy to host {ident.name} and install there with: cmcert install FILE\n"
    else:
        how = "# Use with any cm* command: --cert FILE (or CMCLUSTER_CERT=FILE)\n"
    issuer = ca.certificate.subject.rfc4514_string()
    header = (
        f"# cmcluster credentials for {ident}, issued by {issuer}\n"
        f"# valid until {issued.certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC\n"
        + how
        + "# This file holds a private key: keep it mode 0600.\n"
    )
    return (
        header.encode() + _cert_pem(issued.certificate) + ca.certificate_pem + _key_pem(issued.key)
    )


def write_private(path: Path, data: bytes, force: bool) -> None:
    try:
        exists = path.exists()
    except OSError as exc:
        raise UsageError(f"{path}: cannot use: {exc.strerror}") from None
    if exists and not force:
        raise UsageError(f"{path}: exists already; use --force to replace it")
    save_file(path, data, 0o600)


def certificate_identity(cert: x509.Certificate) -> Identity:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no subjectAltName") from None
    return identity_from_uris(san.get_values_for_type(x509.UniformResourceIdentifier))


def signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def key_matches(cert: x509.Certificate, key_pem: bytes) -> bool:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return False
    return _spki(key.public_key()) == _spki(cert.public_key())


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def validity_problem(cert: x509.Certificate, now: dt.datetime | None = None) -> str | None:
    """Why `cert` is not valid now (expired, not yet valid), or None."""
    moment = now or _now()
    if moment > cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if moment < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    return None


def fingerprint(cert: x509.Certificate) -> str:
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


Note = Callable[[x509.Certificate], str | None]


def describe(data: bytes, origin: str, note: Note | None = None) -> list[str]:
    """Human-readable lines about every certificate and key in a PEM file (cmcert show).

    `note` may add a word about a certificate's state (cmcert show --crl: revoked)."""
    blocks = split_pem(data)
    if not blocks.certificates and not blocks.keys:
        raise UsageError(f"{origin}: no PEM certificate or key in it")
    certs: list[x509.Certificate] = []
    for i, block in enumerate(blocks.certificates, 1):
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise UsageError(f"{origin}: certificate {i} is corrupt ({exc})") from None
    lines: list[str] = []
    for i, cert in enumerate(certs, 1):
        lines.extend(_describe_certificate(i, cert, certs, note))
    for key_pem in blocks.keys:
        owner = next((i for i, c in enumerate(certs, 1) if key_matches(c, key_pem)), None)
        match = f"matches certificate {owner}" if owner else "matches no certificate in this file"
        lines.append(f"private key: {match}")
    return lines


def _describe_certificate(
    index: int, cert: x509.Certificate, others: Sequence[x509.Certificate], note: Note | None
) -> list[str]:
    authority = is_ca(cert)
    if authority:
        what = "cluster CA"
    else:
        try:
            what = str(certificate_identity(cert))
        except IdentityError as exc:
            what = f"not a cmcluster identity: {exc}"
    problem = validity_problem(cert)
    left = (cert.not_valid_after_utc - _now()).days
    state = f"INVALID: {problem}" if problem else f"valid, {left} days left"
    extra = note(cert) if note else None
    if extra:
        state = f"{extra}; {state}"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = ", ".join(_general_name(n) for n in san)
    except x509.ExtensionNotFound:
        names = "(none)"
    issuers = [i for i, o in enumerate(others, 1) if o is not cert and signed_by(cert, o)]
    if authority and signed_by(cert, cert):
        signed = "self-signed"
    elif issuers:
        signed = f"signed by certificate {issuers[0]} of this file"
    else:
        signed = "issuer not in this file"
    return [
        f"certificate {index}: {what}",
        f"  subject:  {cert.subject.rfc4514_string()}",
        f"  issuer:   {cert.issuer.rfc4514_string()} ({signed})",
        f"  serial:   {cert.serial_number:#x}",
        f"  valid:    {cert.not_valid_before_utc:%Y-%m-%d %H:%M} .. "
        f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC ({state})",
        f"  names:    {names}",
        f"  sha256:   {fingerprint(cert)}",
    ]


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _general_name(name: x509.GeneralName) -> str:
    """One name as `cmcert show` prints it: a NUL or a newline is quoted, never printed."""
    value = str(name.value)
    if not value.isprintable() or len(value) > 80:
        value = shown(value)
    if isinstance(name, x509.DNSName):
        return f"DNS:{value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{value}"
    return value


def role_of(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
