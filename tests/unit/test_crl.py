"""CRLs: made by the CA, numbered, verified on load, never replaced by an older one."""

import base64
import dataclasses
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cluster.errors import UsageError
from cluster.security import ca
from cluster.security.crl import (
    crl_path,
    current_revocations,
    load_crl,
    load_crls,
    merged,
    read_crls,
    revoke,
    successor,
)
from cluster.security.identity import Identity, Kind
from cluster.security.issued import issued_certificates, of_identity, record_issued


@pytest.fixture
def authority(tmp_path: Path) -> ca.CertificateAuthority:
    return ca.init_ca(tmp_path / "ca", "prod")


def test_every_revoke_grows_the_number_and_keeps_earlier_entries(
    authority: ca.CertificateAuthority,
) -> None:
    assert current_revocations(authority) is None
    first = revoke(authority, [11, 12], reason=x509.ReasonFlags.key_compromise)
    assert (first.revocations.number, first.added, first.written) == (1, (11, 12), True)
    second = revoke(authority, [12, 13])
    assert (second.added, second.already) == ((13,), (12,))
    assert second.revocations.number == 2
    assert second.revocations.serials == {11, 12, 13}
    assert current_revocations(authority) == second.revocations
    crl = x509.load_pem_x509_crl(crl_path(authority.directory).read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(11)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise  # earlier entries keep their details
    assert crl.is_signature_valid(authority.key.public_key())


def test_nothing_new_leaves_the_crl_alone(authority: ca.CertificateAuthority) -> None:
    revoke(authority, [5])
    before = crl_path(authority.directory).read_bytes()
    again = revoke(authority, [5])
    assert (again.written, again.added, again.already) == (False, (), (5,))
    assert again.revocations.number == 1
    assert crl_path(authority.directory).read_bytes() == before


def test_a_tampered_crl_is_refused(authority: ca.CertificateAuthority) -> None:
    data = revoke(authority, [7]).revocations.pem
    body = b"".join(data.splitlines()[1:-1])
    der = bytearray(base64.b64decode(body))
    index = der.find((7).to_bytes(1, "big") + b"\x17")  # the serial, before its date
    assert index > 0
    der[index] = 8  # revoke 8 instead of 7
    with pytest.raises(UsageError, match="its signature does not verify"):
        load_crl(bytes(der), [authority.certificate], "n1.crl")


def test_a_crl_of_another_ca_is_refused(tmp_path: Path, authority: ca.CertificateAuthority) -> None:
    other = ca.init_ca(tmp_path / "other", "other")
    data = revoke(other, [1]).revocations.pem
    with pytest.raises(UsageError, match=r"^x.crl: CRL of .*cmcluster CA other.*not a trusted CA"):
        load_crl(data, [authority.certificate], "x.crl")
    twin = ca.init_ca(tmp_path / "twin", "prod")  # same name as the trusted CA
    data = revoke(twin, [1]).revocations.pem
    with pytest.raises(UsageError, match="signature does not verify"):
        load_crl(data, [authority.certificate], "x.crl")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "no PEM CRL"),
        (b"hello", "not a valid CRL"),
        (b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "not a valid CRL"),
        (b"\0" * (9 * 1024 * 1024), "larger than 8 MiB"),
    ],
)
def test_garbage_is_one_line_naming_the_file(
    authority: ca.CertificateAuthority, data: bytes, why: str
) -> None:
    with pytest.raises(UsageError, match=f"^bad.crl: .*{why}") as caught:
        load_crl(data, [authority.certificate], "bad.crl")
    assert "\n" not in str(caught.value)


def test_der_and_several_lists(tmp_path: Path, authority: ca.CertificateAuthority) -> None:
    other = ca.init_ca(tmp_path / "other", "other")
    ours = revoke(authority, [1]).revocations
    theirs = revoke(other, [2]).revocations
    both = load_crls(ours.pem + theirs.pem, [authority.certificate, other.certificate])
    assert [r.serials for r in both] == [{1}, {2}]
    der = x509.load_pem_x509_crl(ours.pem).public_bytes(serialization.Encoding.DER)
    assert load_crl(der, [authority.certificate]) == ours
    with pytest.raises(UsageError, match="two CRLs of the same CA"):
        load_crls(ours.pem + ours.pem, [authority.certificate])
    with pytest.raises(UsageError, match="holds 2 CRLs, expected one"):
        load_crl(ours.pem + theirs.pem, [authority.certificate, other.certificate])


def test_read_crls_stops_at_a_bound(tmp_path: Path, authority: ca.CertificateAuthority) -> None:
    with pytest.raises(UsageError, match=r"^/dev/zero: not a regular file"):
        read_crls(Path("/dev/zero"), [authority.certificate])
    huge = tmp_path / "huge.crl"
    huge.write_bytes(b"-" * (9 << 20))
    with pytest.raises(UsageError, match=r"huge\.crl: .*larger than"):
        read_crls(huge, [authority.certificate])
    with pytest.raises(UsageError, match="no such file"):
        read_crls(tmp_path / "nope.crl", [authority.certificate])


def test_a_lower_number_is_refused(tmp_path: Path, authority: ca.CertificateAuthority) -> None:
    old = revoke(authority, [1]).revocations
    new = revoke(authority, [2]).revocations
    assert successor(None, old) is old
    assert successor(old, new) is new
    assert successor(new, new) is new
    with pytest.raises(UsageError, match="CRL number 1 is lower than the current 2"):
        successor(new, old, "ca.crl")
    forged = dataclasses.replace(new, serials=frozenset({2}))
    with pytest.raises(UsageError, match="is the current one but lists other"):
        successor(new, forged)
    other = revoke(ca.init_ca(tmp_path / "other", "other"), [3]).revocations
    with pytest.raises(UsageError, match=r"is a CRL of .*other.*, not of"):
        successor(new, other)
    assert merged([old, other], [new]) == (new, other)
    with pytest.raises(UsageError, match="lower than"):
        merged([new], [old])


def test_the_index_finds_certificates_by_identity(authority: ca.CertificateAuthority) -> None:
    assert issued_certificates(authority.directory) == []
    for identity in (Identity(Kind.NODE, "n1"), Identity(Kind.NODE, "n2")) * 2:
        record_issued(authority, ca.issue(authority, identity).certificate)
    entries = issued_certificates(authority.directory)
    assert len(entries) == 4
    assert len(of_identity(entries, Kind.NODE, "n1")) == 2
    assert of_identity(entries, Kind.QUORUM_SERVER, "n1") == []
    (authority.directory / "issued" / "ff.pem").write_text("junk")
    with pytest.raises(UsageError, match=r"issued/ff.pem: not a PEM certificate"):
        issued_certificates(authority.directory)
