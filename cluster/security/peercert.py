"""The server's own check of a client's certificate, at every call (DESIGN.md §4).

The TLS handshake proves the client holds a key certified by a CA we trust, but
BoringSSL accepts more than cmcluster means: a chain through a sub-CA (the cluster CA
has pathLen 0, yet such a chain was let through), and gRPC's `peer_uri` stops at a
NUL, so "node:n1\\0.evil" reads as n1. So the server parses the leaf itself (auth
context key `x509_pem_cert`) and accepts it only when:

- one of the trusted CA certificates issued it directly (signature checked), and
  that CA is a CA allowed to sign certificates (basicConstraints ca, keyCertSign);
- the leaf is no CA, may sign (digitalSignature) and is meant for clients (clientAuth);
- now is within both the leaf's and the CA's validity;
- its subjectAltName gives one cmcluster identity whose name passes the validator;
- its serial is not in the CRL of the CA that issued it.

This runs on every RPC, so verdicts are cached by the PEM bytes (bounded); a cached
verdict re-checks only the time. New revocations mean a new verifier with an empty
cache (`with_revocations`).
"""

import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from cluster.security.ca import certificate_identity, fingerprint
from cluster.security.crl import Revocations
from cluster.security.identity import Identity, IdentityError

MAX_LEAF_PEM = 64 * 1024  # a cmcluster leaf is under 1 KiB
CACHE_SIZE = 1024


@dataclass(frozen=True)
class PeerCertificate:
    identity: Identity
    serial: int
    issuer_fingerprint: str  # SHA-256 of the issuing CA certificate (ca.fingerprint)
    not_after: dt.datetime


class CertificateRefused(Exception):
    """A peer certificate cmcluster does not accept; `str()` is one short line why."""


@dataclass(frozen=True)
class _Authority:
    certificate: x509.Certificate
    fingerprint: str
    problem: str | None  # why this CA may not issue leaves, or None


@dataclass(frozen=True)
class _Verdict:
    """A cached outcome: a refusal that no clock can change, or a peer and its window."""

    peer: PeerCertificate | None
    refusal: str | None
    not_before: dt.datetime  # latest of the leaf's and the CA's
    not_after: dt.datetime  # earliest of the leaf's and the CA's
    expiring: str  # "certificate" or "CA certificate": whose end is not_after


class PeerVerifier:
    """Verifies client leaf certificates against the trusted CAs and their CRLs."""

    def __init__(
        self,
        cas: Sequence[x509.Certificate],
        revocations: Revocations | Iterable[Revocations] | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        if not cas:
            raise ValueError("a PeerVerifier needs at least one trusted CA")
        self._cas = cas
        self._authorities = tuple(
            _Authority(ca, fingerprint(ca), _authority_problem(ca)) for ca in cas
        )
        if isinstance(revocations, Revocations):
            revocations = (revocations,)
        self._revocations = {r.issuer_fingerprint: r for r in revocations or ()}
        unknown = set(self._revocations) - {a.fingerprint for a in self._authorities}
        if unknown:
            raise ValueError(f"CRL of a CA that is not trusted here ({sorted(unknown)[0]})")
        self._cache: dict[bytes, _Verdict] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def revocations(self) -> tuple[Revocations, ...]:
        return tuple(self._revocations.values())

    def with_revocations(
        self, revocations: Revocations | Iterable[Revocations] | None
    ) -> "PeerVerifier":
        """The same trusted CAs with these CRLs, and a fresh cache."""
        return PeerVerifier(self._cas, revocations, self._cache_size)

    def verify(self, leaf_pem: bytes, now: dt.datetime | None = None) -> PeerCertificate:
        """The peer's identity, or CertificateRefused saying why not."""
        if len(leaf_pem) > MAX_LEAF_PEM:
            raise CertificateRefused(f"certificate is larger than {MAX_LEAF_PEM} bytes")
        verdict = self._cache.get(leaf_pem)
        if verdict is None:
            verdict = self._judge(leaf_pem)
            with self._lock:
                if len(self._cache) >= self._cache_size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[leaf_pem] = verdict
        if verdict.peer is None:
            raise CertificateRefused(verdict.refusal)
        moment = now or dt.datetime.now(dt.UTC)
        if moment > verdict.not_after:
            raise CertificateRefused(
                f"{verdict.peer.identity}: {verdict.expiring} expired on "
                f"{verdict.not_after:%Y-%m-%d %H:%M} UTC"
            )
        if moment < verdict.not_before:
            raise CertificateRefused(
                f"{verdict.peer.identity}: certificate not valid before "
                f"{verdict.not_before:%Y-%m-%d %H:%M} UTC"
            )
        return verdict.peer

    def _judge(self, leaf_pem: bytes) -> _Verdict:
        try:
            leaf = x509.load_pem_x509_certificate(leaf_pem)
        except ValueError:
            return _refused("not a PEM certificate")
        try:
            identity = certificate_identity(leaf)
        except (IdentityError, ValueError) as exc:
            return _refused(f"certificate identity refused: {exc}")
        authority = self._issuer(leaf)
        if authority is None:
            return _refused(
                f"{identity}: certificate not issued directly by a trusted CA "
                "(a chain through another CA is not accepted)"
            )
        if authority.problem:
            return _refused(f"{identity}: issuing CA {authority.problem}")
        problem = _leaf_problem(leaf)
        if problem:
            return _refused(f"{identity}: certificate {problem}")
        serial = leaf.serial_number
        crl = self._revocations.get(authority.fingerprint)
        if crl is not None and crl.revoked(serial):
            return _refused(
                f"{identity}: certificate {serial:#x} is revoked (CRL number {crl.number})"
            )
        peer = PeerCertificate(identity, serial, authority.fingerprint, leaf.not_valid_after_utc)
        ca = authority.certificate
        ca_ends_first = ca.not_valid_after_utc < leaf.not_valid_after_utc
        return _Verdict(
            peer,
            None,
            max(leaf.not_valid_before_utc, ca.not_valid_before_utc),
            min(leaf.not_valid_after_utc, ca.not_valid_after_utc),
            "CA certificate" if ca_ends_first else "certificate",
        )

    def _issuer(self, leaf: x509.Certificate) -> _Authority | None:
        for authority in self._authorities:
            if authority.certificate.subject != leaf.issuer:
                continue
            try:
                leaf.verify_directly_issued_by(authority.certificate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return authority
        return None


def _refused(why: str) -> _Verdict:
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return _Verdict(None, why, epoch, epoch, "")


def _leaf_problem(leaf: x509.Certificate) -> str | None:
    """Why `leaf` may not be a client's certificate (time aside), or None."""
    extensions = leaf.extensions
    if any(e.critical and isinstance(e.value, x509.UnrecognizedExtension) for e in extensions):
        return "has a critical extension cmcluster does not know"
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "is a CA certificate, not a node's or a user's"
    except x509.ExtensionNotFound:
        pass  # RFC 5280: no basicConstraints means no CA
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "has no keyUsage"
    if not usage.digital_signature:
        return "may not sign (no digitalSignature key usage)"
    try:
        purposes = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "has no extendedKeyUsage"
    if ExtendedKeyUsageOID.CLIENT_AUTH not in purposes:
        return "is not for TLS clients (no clientAuth extended key usage)"
    return None


def _authority_problem(ca: x509.Certificate) -> str | None:
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "is not a CA (no basicConstraints)"
    if not constraints.ca:
        return "is not a CA (basicConstraints ca=False)"
    try:
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "has no keyUsage"
    if not usage.key_cert_sign:
        return "may not sign certificates (no keyCertSign)"
    return None
