"""cmapplyconf --crl: what the command reads, and what a node takes from it."""

from pathlib import Path

import pytest

from cluster.cli.cmapplyconf import read_crl
from cluster.daemon.peertrust import PeerTrust
from cluster.errors import CmError, UsageError
from cluster.security import ca, crl
from cluster.security.identity import Identity, Kind
from tests.support import ClusterCA


def _revoke(cluster_ca: ClusterCA, name: str) -> bytes:
    issued = ca.issue(cluster_ca.authority, Identity(Kind.NODE, name))
    crl.revoke(cluster_ca.authority, [issued.certificate.serial_number])
    return crl.crl_path(cluster_ca.directory).read_bytes()


def test_read_crl_refuses_what_is_not_a_crl_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--crl /dev/zero: not a regular file"):
        read_crl(Path("/dev/zero"))
    text = tmp_path / "x.crl"
    text.write_text("hello")
    with pytest.raises(UsageError, match="no PEM CRL in it"):
        read_crl(text)
    with pytest.raises(UsageError, match="No such file"):
        read_crl(tmp_path / "missing.crl")


def test_a_node_takes_a_newer_list_and_refuses_an_older_or_foreign_one(
    cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    trust = PeerTrust([cluster_ca.authority.certificate])
    first = _revoke(cluster_ca, "n8")
    second = _revoke(cluster_ca, "n9")
    applied = trust.successor(b"", first, "--crl")
    assert trust.successor(applied, second, "--crl") == second
    with pytest.raises(CmError, match="lower than the current"):
        trust.successor(second, first, "--crl")
    other = ClusterCA.create(tmp_path / "other", "other")
    with pytest.raises(CmError, match="not a trusted CA"):
        trust.successor(b"", _revoke(other, "n1"), "--crl")
    assert crl.summary(second) == [
        f"CRL number 2 of {cluster_ca.authority.certificate.subject.rfc4514_string()}: "
        "2 certificates revoked"
    ]


def test_enforced_lists_refuse_the_revoked_certificate(cluster_ca: ClusterCA) -> None:
    trust = PeerTrust([cluster_ca.authority.certificate])
    old = ca.issue(cluster_ca.authority, Identity(Kind.NODE, "n1"))
    pem = ca._cert_pem(old.certificate)
    assert trust.accepts(pem)
    changed: list[bool] = []
    trust.changed.append(lambda: changed.append(True))
    crl.revoke(cluster_ca.authority, [old.certificate.serial_number])
    trust.set_revocations(crl.crl_path(cluster_ca.directory).read_bytes(), "test")
    assert changed == [True]
    assert not trust.accepts(pem)
