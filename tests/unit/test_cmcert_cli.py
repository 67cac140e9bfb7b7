"""cmcert as an operator meets it: one clear line and exit 2 on bad input."""

import os
from pathlib import Path

import pytest

from tests.support import command_env, run


def cmcert(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = run(["cmcert", *args], command_env(tmp_path / "root", "n1"), cwd=tmp_path)
    return result.status, result.out, result.err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_full_flow(tmp_path: Path) -> None:
    status, out, _ = cmcert(tmp_path, "init-ca", "--cluster", "prod")
    assert status == 0 and "created cluster CA" in out
    status, out, _ = cmcert(tmp_path, "issue", "--node", "n1")
    assert status == 0 and "cmcert install n1.pem" in out
    assert (tmp_path / "n1.pem").stat().st_mode & 0o777 == 0o600
    status, out, _ = cmcert(tmp_path, "install", "n1.pem")
    assert status == 0, out
    status, out, _ = cmcert(tmp_path, "show", "root/etc/cmcluster/tls/node.crt")
    assert out.startswith("certificate 1: node n1")


def test_unknown_role(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca")
    status, _out, err = cmcert(tmp_path, "issue", "--user", "bob", "--role", "root")
    assert status == 2
    assert one_line_error(err).startswith("cmcert: argument --role: invalid choice: 'root'")
    assert not (tmp_path / "bob.pem").exists()


def test_user_without_role(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca")
    status, _, err = cmcert(tmp_path, "issue", "--user", "bob")
    assert status == 2
    assert one_line_error(err) == (
        "cmcert: --user needs --role (monitor, package_admin, full_admin)"
    )


def test_unwritable_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    status, _, err = cmcert(tmp_path, "init-ca", "--dir", str(tmp_path / "file" / "ca"))
    assert status == 2
    line = one_line_error(err)
    assert line.startswith(f"cmcert: {tmp_path / 'file'}") and "cannot write" in line


def test_unwritable_directory_for_bundle(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca")
    status, _, err = cmcert(tmp_path, "issue", "--node", "n1", "-o", "/proc/n1.pem")
    assert status == 2
    assert "cannot write" in one_line_error(err)


def test_read_only_directory_as_non_root(tmp_path: Path) -> None:
    import sys
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    # pytest's own tmp directories are root-only; this one the user can traverse.
    with tempfile.TemporaryDirectory(prefix="cmcert-ro-") as scratch:
        os.chmod(scratch, 0o755)
        target = Path(scratch) / "ro"
        target.mkdir(mode=0o555)
        result = run(
            ["cmcert", "init-ca", "--dir", str(target)],
            command_env(Path(scratch) / "root", "n1"),
            command=[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-m",
                "cluster",
            ],
            cwd=Path(scratch),
        )
    assert result.status == 2, result
    line = one_line_error(result.err)
    assert line.startswith("cmcert: ") and "Permission denied" in line


def test_corrupt_ca_file(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca")
    ca_crt = tmp_path / "root/etc/cmcluster/ca/ca.crt"
    ca_crt.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    status, _, err = cmcert(tmp_path, "issue", "--node", "n1")
    assert status == 2
    assert one_line_error(err).startswith(f"cmcert: {ca_crt}: not a valid certificate")


def test_bad_node_name(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca")
    status, _, err = cmcert(tmp_path, "issue", "--node", "bad_name")
    assert status == 2
    assert "invalid node name 'bad_name'" in one_line_error(err)


def test_show_of_garbage(tmp_path: Path) -> None:
    (tmp_path / "x.pem").write_text("hello")
    status, _, err = cmcert(tmp_path, "show", "x.pem")
    assert status == 2
    assert one_line_error(err) == "cmcert: x.pem: no PEM certificate or key in it"


def test_missing_action(tmp_path: Path) -> None:
    status, _, err = cmcert(tmp_path)
    assert status == 2
    one_line_error(err)
