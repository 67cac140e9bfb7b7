"""PeerVerifier: the call-time check of a client's leaf certificate."""

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster.security import ca
from cluster.security.crl import revoke
from cluster.security.identity import Identity, Kind, Role, node_uri
from cluster.security.peercert import (
    CertificateRefused,
    PeerCertificate,
    PeerVerifier,
)

NOW = dt.datetime.now(dt.UTC)
CLIENT = [ExtendedKeyUsageOID.CLIENT_AUTH]


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def usage(*, sign: bool = True, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_cert(
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    subject: str = "n1",
    is_ca: bool = False,
    key_usage: x509.KeyUsage | None = None,
    purposes: Sequence[x509.ObjectIdentifier] | None = CLIENT,
    uris: Sequence[str] = (node_uri("n1"),),
    start: dt.datetime = NOW - dt.timedelta(days=1),
    days: int = 30,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate built by hand, to make the ones cmcert never would."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(key_usage or usage(cert_sign=is_ca), critical=True)
    )
    if purposes is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(purposes)), critical=False)
    if uris:
        names = [x509.UniformResourceIdentifier(u) for u in uris]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


@pytest.fixture
def authority(tmp_path: Path) -> ca.CertificateAuthority:
    return ca.init_ca(tmp_path / "ca", "prod")


@pytest.fixture
def verifier(authority: ca.CertificateAuthority) -> PeerVerifier:
    return PeerVerifier([authority.certificate])


def leaf_of(authority: ca.CertificateAuthority, **kwargs: object) -> x509.Certificate:
    cert, _ = make_cert(authority.certificate.subject, authority.key, **kwargs)  # type: ignore[arg-type]
    return cert


def test_a_node_certificate_of_the_ca_is_accepted(
    authority: ca.CertificateAuthority, verifier: PeerVerifier
) -> None:
    issued = ca.issue(authority, Identity(Kind.NODE, "n1"))
    peer = verifier.verify(pem(issued.certificate))
    assert peer == PeerCertificate(
        Identity(Kind.NODE, "n1"),
        issued.certificate.serial_number,
        ca.fingerprint(authority.certificate),
        issued.certificate.not_valid_after_utc,
    )


def test_a_user_certificate_keeps_its_role(
    authority: ca.CertificateAuthority, verifier: PeerVerifier
) -> None:
    issued = ca.issue(authority, Identity(Kind.USER, "ann", Role.MONITOR))
    assert verifier.verify(pem(issued.certificate)).identity.role is Role.MONITOR


def test_a_chain_through_a_sub_ca_is_refused(
    authority: ca.CertificateAuthority, verifier: PeerVerifier
) -> None:
    sub, sub_key = make_cert(
        authority.certificate.subject, authority.key, subject="sub", is_ca=True
    )
    leaf, _ = make_cert(sub.subject, sub_key)
    with pytest.raises(CertificateRefused, match="not issued directly by a trusted CA"):
        verifier.verify(pem(leaf) + pem(sub))


def test_a_sub_ca_posing_under_the_roots_name_is_refused(
    authority: ca.CertificateAuthority, verifier: PeerVerifier
) -> None:
    root_name = authority.certificate.subject
    _, sub_key = make_cert(root_name, authority.key, subject="sub", is_ca=True)
    leaf, _ = make_cert(root_name, sub_key)  # names the root as issuer, signed by the sub-CA
    with pytest.raises(CertificateRefused, match="not issued directly"):
        verifier.verify(pem(leaf))


def test_a_certificate_of_another_ca_is_refused(tmp_path: Path, verifier: PeerVerifier) -> None:
    other = ca.init_ca(tmp_path / "other", "prod")  # same name, other key
    issued = ca.issue(other, Identity(Kind.NODE, "n1"))
    with pytest.raises(CertificateRefused, match="not issued directly by a trusted CA"):
        verifier.verify(pem(issued.certificate))


def test_the_ca_certificate_as_a_leaf_is_refused(
    authority: ca.CertificateAuthority, verifier: PeerVerifier
) -> None:
    ca_as_leaf, _ = make_cert(authority.certificate.subject, authority.key, is_ca=True)
    with pytest.raises(CertificateRefused, match="is a CA certificate"):
        verifier.verify(pem(ca_as_leaf))


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"purposes": [ExtendedKeyUsageOID.SERVER_AUTH]}, "no clientAuth"),
        ({"purposes": None}, "no extendedKeyUsage"),
        ({"key_usage": usage(sign=False)}, "no digitalSignature"),
        ({"uris": [node_uri("n1\x00.evil")]}, "control character"),
        ({"uris": [node_uri("../n1")]}, "invalid node name"),
        ({"uris": [node_uri("")]}, "empty"),
        ({"uris": []}, "no subjectAltName"),
    ],
)
def test_leaves_cmcert_would_never_issue_are_refused(
    authority: ca.CertificateAuthority,
    verifier: PeerVerifier,
    kwargs: dict[str, object],
    why: str,
) -> None:
    with pytest.raises(CertificateRefused, match=why) as caught:
        verifier.verify(pem(leaf_of(authority, **kwargs)))
    assert "\n" not in str(caught.value) and "\x00" not in str(caught.value)


def test_expired_and_not_yet_valid_are_refused(
    authority: ca.CertificateAuthority, verifier: PeerVerifier
) -> None:
    expired = leaf_of(authority, start=NOW - dt.timedelta(days=10), days=2)
    with pytest.raises(CertificateRefused, match="node n1: certificate expired on"):
        verifier.verify(pem(expired))
    later = pem(leaf_of(authority, start=NOW + dt.timedelta(days=2)))
    with pytest.raises(CertificateRefused, match="not valid before"):
        verifier.verify(later)
    # Cached, yet the clock is read again: the same bytes pass once their time has come.
    assert verifier.verify(later, now=NOW + dt.timedelta(days=3)).identity.name == "n1"


def test_a_leaf_is_valid_no_longer_than_its_ca(tmp_path: Path) -> None:
    short = ca.init_ca(tmp_path / "short", "prod", days=10)
    leaf, _ = make_cert(short.certificate.subject, short.key, days=100)
    verifier = PeerVerifier([short.certificate])
    assert verifier.verify(pem(leaf)).identity.name == "n1"
    with pytest.raises(CertificateRefused, match="CA certificate expired"):
        verifier.verify(pem(leaf), now=NOW + dt.timedelta(days=20))


def test_a_trusted_certificate_that_is_no_ca_issues_nothing(
    authority: ca.CertificateAuthority,
) -> None:
    fake_ca, fake_key = make_cert(authority.certificate.subject, authority.key, subject="x")
    leaf, _ = make_cert(fake_ca.subject, fake_key)
    with pytest.raises(CertificateRefused, match="issuing CA is not a CA"):
        PeerVerifier([fake_ca]).verify(pem(leaf))


def test_revoked_is_refused_and_new_revocations_empty_the_cache(
    authority: ca.CertificateAuthority, verifier: PeerVerifier
) -> None:
    issued = ca.issue(authority, Identity(Kind.NODE, "n1"))
    other = ca.issue(authority, Identity(Kind.NODE, "n2"))
    leaf = pem(issued.certificate)
    assert verifier.verify(leaf).identity.name == "n1"  # now cached as good
    result = revoke(authority, [issued.certificate.serial_number])
    revoked = verifier.with_revocations(result.revocations)
    assert revoked.revocations == (result.revocations,)
    with pytest.raises(CertificateRefused, match=r"node n1: certificate 0x[0-9a-f]+ is revoked"):
        revoked.verify(leaf)
    assert revoked.verify(pem(other.certificate)).identity.name == "n2"
    assert verifier.verify(leaf).identity.name == "n1"  # the old verifier is unchanged


def test_a_crl_of_an_untrusted_ca_is_not_taken(tmp_path: Path, verifier: PeerVerifier) -> None:
    other = ca.init_ca(tmp_path / "other", "other")
    result = revoke(other, [1])
    with pytest.raises(ValueError, match="not trusted here"):
        verifier.with_revocations(result.revocations)


def test_garbage_and_huge_input_are_refused(verifier: PeerVerifier) -> None:
    with pytest.raises(CertificateRefused, match="not a PEM certificate"):
        verifier.verify(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateRefused, match="larger than"):
        verifier.verify(b"x" * 1_000_000)


def test_the_cache_is_bounded(authority: ca.CertificateAuthority) -> None:
    verifier = PeerVerifier([authority.certificate], cache_size=3)
    leaves = [pem(leaf_of(authority, uris=[node_uri(f"n{i}")])) for i in range(5)]
    for leaf in leaves:
        verifier.verify(leaf)
    assert len(verifier._cache) == 3
    assert [verifier.verify(leaf).identity.name for leaf in leaves] == [f"n{i}" for i in range(5)]


def test_a_cached_verify_takes_microseconds(
    authority: ca.CertificateAuthority, verifier: PeerVerifier
) -> None:
    leaf = pem(ca.issue(authority, Identity(Kind.NODE, "n1")).certificate)
    verifier.verify(leaf)
    runs = 10_000
    mutable = bytearray(leaf)
    start = time.perf_counter()
    for _ in range(runs):
        verifier.verify(bytes(mutable))  # a fresh bytes object per call, as gRPC gives
    per_call = (time.perf_counter() - start) / runs
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} µs per cached verify"


def test_quorum_server_trust_reads_its_crl_file(
    tmp_path: Path, authority: ca.CertificateAuthority
) -> None:
    """cmqsd's trust: its CAs, and the CRLs of tls/ca.crl (a missing file revokes nothing)."""
    from cluster.daemon.peertrust import quorum_server_trust
    from cluster.errors import CmError
    from cluster.security.identity import IdentityError
    from cluster.security.pem import Credentials

    issued = ca.issue(authority, Identity(Kind.NODE, "n1"))
    revoke(authority, [issued.certificate.serial_number])
    credentials = Credentials(b"", b"", authority.certificate_pem)
    verifier = quorum_server_trust(credentials, authority.directory / "ca.crl")
    with pytest.raises(IdentityError, match="revoked"):
        verifier.verify(pem(issued.certificate))
    without = quorum_server_trust(credentials, tmp_path / "missing.crl")
    assert without.verify(pem(issued.certificate)).identity.name == "n1"
    (tmp_path / "empty.crl").write_bytes(b"")
    with pytest.raises(CmError, match=r"empty\.crl: no PEM CRL .*fix or remove it"):
        quorum_server_trust(credentials, tmp_path / "empty.crl")
