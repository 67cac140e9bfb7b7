"""The cluster CA: files, modes, refusals, and the bundle install checks."""

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509

from cluster.errors import UsageError
from cluster.paths import HostPaths
from cluster.security import ca
from cluster.security.bundle import install_node_bundle
from cluster.security.identity import Identity, Kind, Role
from tests.support import ClusterCA


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_ca_writes_private_key_0600(tmp_path: Path) -> None:
    authority = ca.init_ca(tmp_path / "ca", "prod")
    assert mode(tmp_path / "ca" / "ca.key") == 0o600
    assert mode(tmp_path / "ca") == 0o700
    assert "cmcluster CA prod" in authority.certificate.subject.rfc4514_string()
    constraints = authority.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca


def test_existing_ca_is_never_overwritten_without_force(tmp_path: Path) -> None:
    first = ca.init_ca(tmp_path, "prod")
    with pytest.raises(UsageError, match="a CA exists already"):
        ca.init_ca(tmp_path, "prod")
    assert ca.load_ca(tmp_path).certificate == first.certificate
    second = ca.init_ca(tmp_path, "prod", force=True)
    assert second.certificate != first.certificate


def test_node_certificate_names_the_node(cluster_ca: ClusterCA) -> None:
    issued = ca.issue(cluster_ca.authority, Identity(Kind.NODE, "node7"))
    assert ca.certificate_identity(issued.certificate) == Identity(Kind.NODE, "node7")
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["node7"]
    assert ca.signed_by(issued.certificate, cluster_ca.authority.certificate)
    assert isinstance(issued.key.curve, type(ca._new_key().curve))


def test_user_certificate_carries_role(cluster_ca: ClusterCA) -> None:
    issued = ca.issue(cluster_ca.authority, Identity(Kind.USER, "ann", Role.MONITOR))
    assert ca.certificate_identity(issued.certificate) == Identity(Kind.USER, "ann", Role.MONITOR)


def test_leaf_never_outlives_its_ca(tmp_path: Path) -> None:
    authority = ca.init_ca(tmp_path, "short", days=10)
    issued = ca.issue(authority, Identity(Kind.NODE, "n1"), days=700)
    assert issued.certificate.not_valid_after_utc <= authority.certificate.not_valid_after_utc


def test_corrupt_ca_files_are_named(tmp_path: Path) -> None:
    ca.init_ca(tmp_path, "x")
    (tmp_path / "ca.crt").write_text("garbage\n")
    with pytest.raises(UsageError, match=r"ca\.crt: no PEM certificate in it"):
        ca.load_ca(tmp_path)
    ca.init_ca(tmp_path, "x", force=True)
    (tmp_path / "ca.key").write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(UsageError, match=r"ca\.key: not a valid unencrypted PEM private key"):
        ca.load_ca(tmp_path)


def test_key_of_another_ca_is_detected(tmp_path: Path) -> None:
    ca.init_ca(tmp_path / "a", "a")
    ca.init_ca(tmp_path / "b", "b")
    (tmp_path / "a" / "ca.key").write_bytes((tmp_path / "b" / "ca.key").read_bytes())
    with pytest.raises(UsageError, match="does not belong to"):
        ca.load_ca(tmp_path / "a")


def test_missing_ca_says_how_to_create(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cmcert init-ca"):
        ca.load_ca(tmp_path / "none")


def test_bundle_is_private_and_refuses_overwrite(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    issued = ca.issue(cluster_ca.authority, Identity(Kind.NODE, "n1"))
    out = tmp_path / "n1.pem"
    ca.write_private(out, ca.bundle_bytes(issued, cluster_ca.authority), force=False)
    assert mode(out) == 0o600
    with pytest.raises(UsageError, match="exists already"):
        ca.write_private(out, b"x", force=False)


def test_validity_problem(cluster_ca: ClusterCA) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    old = ca.issue(cluster_ca.authority, Identity(Kind.NODE, "n1"), days=1, not_before=start)
    assert (ca.validity_problem(old.certificate) or "").startswith("expired on")
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    early = ca.issue(cluster_ca.authority, Identity(Kind.NODE, "n1"), days=1, not_before=future)
    assert (ca.validity_problem(early.certificate) or "").startswith("not valid before")


def test_describe_reports_each_part(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    bundle = cluster_ca.bundle(tmp_path / "u.pem", user="ann", role=Role.FULL_ADMIN)
    lines = ca.describe(bundle.read_bytes(), "u.pem")
    assert lines[0] == "certificate 1: user ann (full_admin)"
    assert "certificate 2: cluster CA" in lines
    assert lines[-1] == "private key: matches certificate 1"
    assert any("signed by certificate 2 of this file" in line for line in lines)


class TestInstall:
    def test_installs_with_safe_modes(self, cluster_ca: ClusterCA, tmp_path: Path) -> None:
        paths = HostPaths(tmp_path / "host")
        bundle = cluster_ca.bundle(tmp_path / "n1.pem", node="n1")
        assert install_node_bundle(paths, bundle, "n1", force=False) == "n1"
        assert mode(paths.node_key) == 0o600
        assert mode(paths.tls_dir) == 0o700
        assert paths.ca_cert.read_bytes() == cluster_ca.authority.certificate_pem

    def test_refuses_bundle_of_another_node(self, cluster_ca: ClusterCA, tmp_path: Path) -> None:
        bundle = cluster_ca.bundle(tmp_path / "n1.pem", node="n1")
        with pytest.raises(UsageError, match="is for node 'n1' but this host is 'n2'"):
            install_node_bundle(HostPaths(tmp_path / "h"), bundle, "n2", force=False)

    def test_refuses_user_bundle(self, cluster_ca: ClusterCA, tmp_path: Path) -> None:
        bundle = cluster_ca.bundle(tmp_path / "u.pem", user="u", role=Role.MONITOR)
        with pytest.raises(UsageError, match="not a node"):
            install_node_bundle(HostPaths(tmp_path / "h"), bundle, "n1", force=False)

    def test_refuses_mismatched_key(self, cluster_ca: ClusterCA, tmp_path: Path) -> None:
        good = cluster_ca.bundle(tmp_path / "a.pem", node="n1").read_bytes()
        other = cluster_ca.bundle(tmp_path / "b.pem", node="n1").read_bytes()
        key_start = other.index(b"-----BEGIN PRIVATE KEY")
        mixed = good[: good.index(b"-----BEGIN PRIVATE KEY")] + other[key_start:]
        (tmp_path / "mixed.pem").write_bytes(mixed)
        with pytest.raises(UsageError, match="private key does not belong"):
            install_node_bundle(HostPaths(tmp_path / "h"), tmp_path / "mixed.pem", "n1", False)

    def test_refuses_expired(self, cluster_ca: ClusterCA, tmp_path: Path) -> None:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        bundle = cluster_ca.bundle(tmp_path / "n1.pem", node="n1", days=1, not_before=start)
        with pytest.raises(UsageError, match="expired on"):
            install_node_bundle(HostPaths(tmp_path / "h"), bundle, "n1", force=False)

    def test_refuses_to_replace_without_force(self, cluster_ca: ClusterCA, tmp_path: Path) -> None:
        paths = HostPaths(tmp_path / "h")
        bundle = cluster_ca.bundle(tmp_path / "n1.pem", node="n1")
        install_node_bundle(paths, bundle, "n1", force=False)
        with pytest.raises(UsageError, match="installed already"):
            install_node_bundle(paths, bundle, "n1", force=False)
        install_node_bundle(paths, bundle, "n1", force=True)


@pytest.mark.parametrize(
    "identity",
    [
        Identity(Kind.NODE, "n1\n"),
        Identity(Kind.NODE, "n1\x00.evil"),
        Identity(Kind.QUORUM_SERVER, "../qs"),
        Identity(Kind.USER, "", Role.MONITOR),
    ],
)
def test_the_ca_never_signs_an_invalid_name(cluster_ca: ClusterCA, identity: Identity) -> None:
    with pytest.raises(UsageError, match="invalid"):
        ca.issue(cluster_ca.authority, identity)


@pytest.mark.parametrize("days", [0, 36501, 99_999_999])
def test_days_are_bounded(tmp_path: Path, cluster_ca: ClusterCA, days: int) -> None:
    with pytest.raises(UsageError, match=f"--days must be 1 to 36500, not {days}"):
        ca.init_ca(tmp_path / "new", "prod", days=days)
    with pytest.raises(UsageError, match="--days must be 1 to 36500"):
        ca.issue(cluster_ca.authority, Identity(Kind.NODE, "n1"), days=days)


def test_show_quotes_hostile_names(tmp_path: Path, cluster_ca: ClusterCA) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(cluster_ca.authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier("urn:cmcluster:node:n1\n\x00.evil")]
            ),
            critical=False,
        )
        .sign(cluster_ca.authority.key, hashes.SHA256())
    )
    lines = ca.describe(cert.public_bytes(serialization.Encoding.PEM), "x.pem")
    assert lines[0].startswith("certificate 1: not a cmcluster identity: certificate names an")
    assert "URI:'urn:cmcluster:node:n1\\n\\x00.evil'" in "\n".join(lines)
    assert all("\x00" not in line for line in lines)
