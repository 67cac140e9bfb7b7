"""The CA directory's index of every certificate it issued: `issued/<serial-hex>.pem`.

Revocation needs serial numbers, and an operator who wants a node shut out knows its
name, not the serials of the certificates issued to it over the years. `cmcert issue`
records each certificate here before it writes the bundle, so no certificate can be
handed out that `cmcert revoke --node` would not find. Only certificates are kept:
the private keys leave with the bundles.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cluster.atomicfile import save_file
from cluster.errors import UsageError
from cluster.security.ca import CertificateAuthority, certificate_identity
from cluster.security.identity import Identity, IdentityError, Kind
from cluster.security.pem import read_file

ISSUED_DIR = "issued"


@dataclass(frozen=True)
class IssuedCertificate:
    path: Path
    certificate: x509.Certificate
    identity: Identity | None  # None: the certificate names no valid cmcluster identity

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    @property
    def who(self) -> str:
        return str(self.identity) if self.identity else "(no valid cmcluster identity)"


def index_dir(ca_dir: Path) -> Path:
    return ca_dir / ISSUED_DIR


def serial_hex(serial: int) -> str:
    return f"{serial:x}"


def record_issued(authority: CertificateAuthority, cert: x509.Certificate) -> Path:
    """Add `cert` to the index of `authority`'s directory; returns the file written."""
    path = index_dir(authority.directory) / f"{serial_hex(cert.serial_number)}.pem"
    save_file(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return path


def issued_certificates(ca_dir: Path) -> list[IssuedCertificate]:
    """Every certificate in the index, oldest first; a corrupt entry is an error naming it."""
    directory = index_dir(ca_dir)
    try:
        paths = sorted(p for p in directory.iterdir() if p.suffix == ".pem")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"{directory}: cannot read: {exc.strerror}") from None
    entries: list[IssuedCertificate] = []
    for path in paths:
        try:
            cert = x509.load_pem_x509_certificate(read_file(path, "issued certificate"))
        except ValueError:
            raise UsageError(f"{path}: not a PEM certificate (corrupt index entry?)") from None
        try:
            identity: Identity | None = certificate_identity(cert)
        except IdentityError:
            identity = None
        entries.append(IssuedCertificate(path, cert, identity))
    entries.sort(key=lambda e: (e.certificate.not_valid_before_utc, e.serial))
    return entries


def of_identity(
    entries: Sequence[IssuedCertificate], kind: Kind, name: str
) -> list[IssuedCertificate]:
    """The entries issued to the node, user or quorum server `name`."""
    return [e for e in entries if e.identity and (e.identity.kind, e.identity.name) == (kind, name)]
