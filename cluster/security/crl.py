"""Certificate revocation: X.509 CRLs signed by the cluster CA.

The CA directory holds `ca.crl`, rewritten by every `cmcert revoke` with a CRL number
one higher and every earlier entry kept, so a newer list never brings a revoked
certificate back. The list travels with the binary configuration (and to a quorum
server's tls/ca.crl, one list per CA it trusts); whoever receives one checks its
signature against a CA it trusts and refuses a number lower than the one it holds.

nextUpdate is written (X.509 requires it) as the CA's own expiry and not enforced:
lists are distributed by the operator, not fetched, so a "stale" list is simply the
latest one.
"""

import datetime as dt
import fcntl
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cluster.atomicfile import save_file
from cluster.errors import UsageError
from cluster.names import shown
from cluster.security.ca import CertificateAuthority, fingerprint
from cluster.security.pem import MAX_CRL_BYTES, read_file

CA_CRL = "ca.crl"
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----\r?\n[A-Za-z0-9+/=\r\n]*?-----END X509 CRL-----")


@dataclass(frozen=True)
class Revocations:
    """What one CA's CRL says: the serials it revoked, and how recent the list is."""

    issuer_fingerprint: str  # SHA-256 of the CA certificate, as ca.fingerprint gives it
    issuer: str  # the CA's subject, for messages
    number: int  # CRL number: grows by one with every cmcert revoke
    serials: frozenset[int]
    last_update: dt.datetime
    pem: bytes  # the signed list itself, to store and pass on

    def revoked(self, serial: int) -> bool:
        return serial in self.serials

    def __str__(self) -> str:
        return f"CRL number {self.number} of {self.issuer} ({len(self.serials)} revoked)"


@dataclass(frozen=True)
class RevokeResult:
    revocations: Revocations
    added: tuple[int, ...]  # revoked by this call
    already: tuple[int, ...]  # asked for, but revoked before
    written: bool  # False when nothing was new: ca.crl is unchanged


def load_crl(data: bytes, cas: Sequence[x509.Certificate], origin: str = "CRL") -> Revocations:
    """The one CRL in `data` (PEM or DER), its signature checked against a CA of `cas`.

    Raises UsageError naming `origin` for a corrupt list, one no trusted CA signed,
    or one without a CRL number."""
    found = load_crls(data, cas, origin)
    if len(found) != 1:
        raise UsageError(f"{origin}: holds {len(found)} CRLs, expected one")
    return found[0]


def load_crls(
    data: bytes, cas: Sequence[x509.Certificate], origin: str = "CRL"
) -> tuple[Revocations, ...]:
    """Every CRL in `data` (PEM blocks, or one DER list), at most one per CA."""
    lists = tuple(_parse(data, cas, origin)[0] for data in _blocks(data, origin))
    issuers = [r.issuer_fingerprint for r in lists]
    if len(set(issuers)) != len(issuers):
        raise UsageError(f"{origin}: holds two CRLs of the same CA; keep only the newest")
    return lists


def read_crls(path: Path, cas: Sequence[x509.Certificate]) -> tuple[Revocations, ...]:
    """`load_crls` of a file, read up to MAX_CRL_BYTES (a device never fills memory)."""
    return load_crls(_read_bounded(path), cas, str(path))


def successor(
    current: Revocations | None, offered: Revocations, origin: str = "CRL"
) -> Revocations:
    """`offered` if it may replace `current` (same CA, a number not lower); else UsageError.

    A lower number would bring revoked certificates back: an old list replayed, or a
    CA directory restored from an old backup."""
    if current is None:
        return offered
    if current.issuer_fingerprint != offered.issuer_fingerprint:
        raise UsageError(f"{origin}: is a CRL of {offered.issuer}, not of {current.issuer}")
    if offered.number < current.number:
        raise UsageError(
            f"{origin}: CRL number {offered.number} is lower than the current "
            f"{current.number}; refusing to bring revoked certificates back"
        )
    if offered.number == current.number and offered.serials != current.serials:
        raise UsageError(
            f"{origin}: CRL number {offered.number} is the current one but lists other "
            "certificates (two CA directories?)"
        )
    return offered


def merged(
    current: Iterable[Revocations], offered: Iterable[Revocations], origin: str = "CRL"
) -> tuple[Revocations, ...]:
    """`current` with each list of `offered` replacing its CA's (checked by `successor`)."""
    by_ca = {r.issuer_fingerprint: r for r in current}
    for new in offered:
        by_ca[new.issuer_fingerprint] = successor(by_ca.get(new.issuer_fingerprint), new, origin)
    return tuple(by_ca.values())


def summary(data: bytes) -> list[str]:
    """One line per CRL in `data`, as distributed with a configuration (cmviewconf);
    not verified here: every node verified them against its CA before taking them."""
    lines = []
    for block in _blocks(data, "revocation list"):
        try:
            crl = (
                x509.load_pem_x509_crl(block)
                if block.startswith(b"-----")
                else x509.load_der_x509_crl(block)
            )
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except (ValueError, x509.ExtensionNotFound):
            lines.append("an unreadable revocation list")
            continue
        count = sum(1 for _ in crl)
        lines.append(
            f"CRL number {number} of {crl.issuer.rfc4514_string()}: "
            f"{count} certificate{'s' * (count != 1)} revoked"
        )
    return lines


def crl_path(ca_dir: Path) -> Path:
    return ca_dir / CA_CRL


def current_revocations(authority: CertificateAuthority) -> Revocations | None:
    """The CA directory's ca.crl, verified, or None before the first revocation."""
    loaded = _current(authority)
    return loaded[0] if loaded else None


def revoke(
    authority: CertificateAuthority,
    serials: Iterable[int],
    reason: x509.ReasonFlags | None = None,
    now: dt.datetime | None = None,
) -> RevokeResult:
    """Add `serials` to the CA's ca.crl, signed anew with the next CRL number.

    Serials revoked already are reported, not added twice; when none is new the file
    is left as it is. Two `cmcert revoke` at once are serialised by a lock file."""
    moment = now or dt.datetime.now(dt.UTC)
    wanted = list(dict.fromkeys(serials))
    with _locked(authority.directory):
        loaded = _current(authority)
        old = loaded[1] if loaded else None
        previous = loaded[0] if loaded else None
        known = previous.serials if previous else frozenset()
        added = tuple(s for s in wanted if s not in known)
        already = tuple(s for s in wanted if s in known)
        if not added and previous is not None:
            return RevokeResult(previous, added, already, written=False)
        number = previous.number + 1 if previous else 1
        data = _sign(authority, old, added, reason=reason, number=number, moment=moment)
        save_file(crl_path(authority.directory), data, 0o644)
    revocations = load_crl(data, [authority.certificate], str(crl_path(authority.directory)))
    return RevokeResult(revocations, added, already, written=True)


def _sign(
    authority: CertificateAuthority,
    old: x509.CertificateRevocationList | None,
    added: Sequence[int],
    *,
    reason: x509.ReasonFlags | None,
    number: int,
    moment: dt.datetime,
) -> bytes:
    ca_cert, key = authority.certificate, authority.key
    next_update = max(ca_cert.not_valid_after_utc, moment + dt.timedelta(days=1))
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(moment)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    for entry in old or ():
        kept = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(entry.revocation_date_utc)
        )
        for ext in entry.extensions:
            kept = kept.add_extension(ext.value, ext.critical)
        builder = builder.add_revoked_certificate(kept.build())
    for serial in added:
        new = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(moment)
        if reason is not None:
            new = new.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(new.build())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _current(
    authority: CertificateAuthority,
) -> tuple[Revocations, x509.CertificateRevocationList] | None:
    path = crl_path(authority.directory)
    if not path.exists():
        return None
    blocks = _blocks(_read_bounded(path), str(path))
    if len(blocks) != 1:
        raise UsageError(f"{path}: holds {len(blocks)} CRLs, expected one")
    return _parse(blocks[0], [authority.certificate], str(path))


def _blocks(data: bytes, origin: str) -> list[bytes]:
    if len(data) > MAX_CRL_BYTES:
        raise UsageError(f"{origin}: larger than {MAX_CRL_BYTES // (1024 * 1024)} MiB; not a CRL")
    if b"-----BEGIN" in data[:4096] or not data:
        blocks = [m.group(0) for m in _PEM_CRL.finditer(data)]
        if not blocks:
            raise UsageError(f"{origin}: no PEM CRL (BEGIN X509 CRL) in it")
        return blocks
    return [data]  # DER


def _parse(
    data: bytes, cas: Sequence[x509.Certificate], origin: str
) -> tuple[Revocations, x509.CertificateRevocationList]:
    try:
        crl = (
            x509.load_pem_x509_crl(data)
            if data.startswith(b"-----")
            else x509.load_der_x509_crl(data)
        )
        extensions = crl.extensions
    except ValueError:
        raise UsageError(f"{origin}: not a valid CRL (corrupt file?)") from None
    issuer = _issuer_of(crl, cas, origin)
    if any(isinstance(e.value, x509.DeltaCRLIndicator) for e in extensions):
        raise UsageError(f"{origin}: a delta CRL; give the CA's complete list (ca.crl)")
    unknown = [
        e for e in extensions if e.critical and isinstance(e.value, x509.UnrecognizedExtension)
    ]
    if unknown:
        raise UsageError(f"{origin}: has a critical extension cmcluster does not know")
    try:
        number = extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise UsageError(f"{origin}: has no CRL number; make it with cmcert revoke") from None
    try:
        serials = frozenset(entry.serial_number for entry in crl)
    except ValueError:
        raise UsageError(f"{origin}: has a corrupt entry") from None
    revocations = Revocations(
        issuer_fingerprint=fingerprint(issuer),
        issuer=issuer.subject.rfc4514_string(),
        number=number,
        serials=serials,
        last_update=crl.last_update_utc,
        pem=crl.public_bytes(serialization.Encoding.PEM),
    )
    return revocations, crl


def _issuer_of(
    crl: x509.CertificateRevocationList, cas: Sequence[x509.Certificate], origin: str
) -> x509.Certificate:
    """The trusted CA that signed `crl` (several CAs may share a subject: try each)."""
    named = [ca for ca in cas if ca.subject == crl.issuer]
    if not named:
        issuer = shown(crl.issuer.rfc4514_string(), 80)
        raise UsageError(f"{origin}: CRL of {issuer}, which is not a trusted CA")
    for ca in named:
        try:
            if crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
                break
        except (TypeError, ValueError):
            continue
    else:
        raise UsageError(
            f"{origin}: its signature does not verify with the CA it names (tampered with, "
            "or made by another CA of the same name)"
        )
    if not _may_sign_crls(ca):
        raise UsageError(f"{origin}: signed by a certificate that may not sign CRLs")
    return ca


def _may_sign_crls(ca: x509.Certificate) -> bool:
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and usage.crl_sign


def _read_bounded(path: Path) -> bytes:
    return read_file(path, "CRL", MAX_CRL_BYTES + 1)


@contextmanager
def _locked(ca_dir: Path) -> Iterator[None]:
    path = ca_dir / ".revoke.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise UsageError(f"{path}: cannot lock the CA directory: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
