from pathlib import Path

import pytest

from cluster.errors import UsageError
from cluster.security.identity import Role
from cluster.security.pem import load_credentials, split_pem
from tests.support import ClusterCA


def test_split_bundle(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    bundle = cluster_ca.bundle(tmp_path / "u.pem", user="u", role=Role.MONITOR)
    blocks = split_pem(bundle.read_bytes())
    assert len(blocks.certificates) == 2
    assert len(blocks.keys) == 1


def test_bundle_alone_gives_credentials(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    bundle = cluster_ca.bundle(tmp_path / "u.pem", user="u", role=Role.MONITOR)
    creds = load_credentials(bundle, None, None)
    assert creds.ca == cluster_ca.authority.certificate_pem
    assert b"PRIVATE KEY" in creds.key


def test_separate_files(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    blocks = split_pem(
        cluster_ca.bundle(tmp_path / "u.pem", user="u", role=Role.MONITOR).read_bytes()
    )
    (tmp_path / "c.pem").write_bytes(blocks.certificates[0])
    (tmp_path / "k.pem").write_bytes(blocks.keys[0])
    (tmp_path / "ca.pem").write_bytes(blocks.certificates[1])
    creds = load_credentials(tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem")
    assert creds.certificate == blocks.certificates[0]


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nothing\.pem: no such file"):
        load_credentials(tmp_path / "nothing.pem", None, None)
    (tmp_path / "empty.pem").write_text("hello\n")
    with pytest.raises(UsageError, match=r"empty\.pem: no PEM certificate"):
        load_credentials(tmp_path / "empty.pem", None, None)


def test_certificate_without_key_or_ca(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    blocks = split_pem(
        cluster_ca.bundle(tmp_path / "u.pem", user="u", role=Role.MONITOR).read_bytes()
    )
    (tmp_path / "c.pem").write_bytes(blocks.certificates[0])
    with pytest.raises(UsageError, match="no private keys"):
        load_credentials(tmp_path / "c.pem", None, None)
    (tmp_path / "ck.pem").write_bytes(blocks.certificates[0] + blocks.keys[0])
    with pytest.raises(UsageError, match="no CA certificate"):
        load_credentials(tmp_path / "ck.pem", None, None)
