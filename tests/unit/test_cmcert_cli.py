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


def test_a_name_with_a_newline_is_one_clear_line(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca")
    status, _, err = cmcert(tmp_path, "issue", "--node", "n1\n")
    assert status == 2
    assert one_line_error(err).startswith(
        "cmcert: invalid node name 'n1\\n': holds a control character; use 1 to 39"
    )
    assert not list(tmp_path.glob("n1*.pem"))


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("99999999", "must be 1 to 36500 days, not '99999999'"),
        ("0", "must be 1 to 36500 days, not '0'"),
        ("9" * 5000, "must be 1 to 36500 days"),
        ("ten", "not a number of days: 'ten'"),
    ],
)
def test_days_out_of_range(tmp_path: Path, days: str, message: str) -> None:
    status, _, err = cmcert(tmp_path, "init-ca", "--days", days)
    assert status == 2
    line = one_line_error(err)
    assert line.startswith(f"cmcert: argument --days: {message}") and len(line) < 200


def test_revoke_and_list(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    cmcert(tmp_path, "init-ca", "--dir", str(ca_dir))
    for args in (["--node", "n1"], ["--node", "n1", "-o", "n1-new.pem"], ["--node", "n2"]):
        assert cmcert(tmp_path, "issue", "--dir", str(ca_dir), *args)[0] == 0
    assert (
        cmcert(tmp_path, "issue", "--dir", str(ca_dir), "--user", "bob", "--role", "monitor")[0]
        == 0
    )
    assert len(list((ca_dir / "issued").glob("*.pem"))) == 4

    status, out, _ = cmcert(tmp_path, "list", "--dir", str(ca_dir))
    assert status == 0
    assert out.count(" valid\n") == 4 and "ca.crl: none yet" in out

    status, out, err = cmcert(tmp_path, "revoke", "--dir", str(ca_dir), "--node", "n1")
    assert status == 0, err
    assert out.count("revoked 0x") == 2 and "node n1: 2 certificates, 2 newly revoked" in out
    assert f"wrote {ca_dir / 'ca.crl'} (CRL number 1, 2 revoked in all)" in out
    assert f"next: distribute it: cmapplyconf --crl {ca_dir / 'ca.crl'}" in out

    status, out, _ = cmcert(tmp_path, "revoke", "--dir", str(ca_dir), "bob.pem")
    assert status == 0 and "user bob (monitor)" in out and "(CRL number 2, 3 revoked" in out
    status, out, _ = cmcert(tmp_path, "revoke", "--dir", str(ca_dir), "bob.pem")
    assert status == 0 and "already revoked" in out and "unchanged (CRL number 2)" in out

    status, out, _ = cmcert(tmp_path, "list", "--dir", str(ca_dir))
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:5]}
    assert sorted(rows.values()) == ["revoked", "revoked", "revoked", "valid"]
    assert " node n2 " in out and out.splitlines()[5].endswith("ca.crl: CRL number 2, 3 revoked")

    status, out, _ = cmcert(tmp_path, "show", "bob.pem", "--crl", str(ca_dir / "ca.crl"))
    assert status == 0 and "REVOKED by CRL number 2" in out
    status, out, _ = cmcert(tmp_path, "show", "n2.pem", "--crl", str(ca_dir / "ca.crl"))
    assert status == 0 and "REVOKED" not in out


def test_revoke_by_serial_and_refusals(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    cmcert(tmp_path, "init-ca", "--dir", str(ca_dir))
    status, out, _ = cmcert(tmp_path, "revoke", "--dir", str(ca_dir), "--serial", "1F:2E")
    assert status == 0 and "revoked 0x1f2e (not in the index)" in out
    refusals = [
        (["--serial", "xyz"], "argument --serial: not a certificate serial in hex: 'xyz'"),
        (["--serial", "0"], "argument --serial: a certificate serial is never 0"),
        ([], "say what to revoke, one way"),
        (["--node", "n1", "--user", "bob"], "say what to revoke, one way"),
        (["--node", "n9"], "no certificate of node n9 in"),
        (["--quorum-server", "q\x01s"], "invalid quorum server name 'q\\x01s'"),
        ([str(ca_dir / "ca.crt")], "no certificate to revoke in it"),
        (["missing.pem"], "missing.pem: no such file"),
    ]
    for args, message in refusals:
        status, _, err = cmcert(tmp_path, "revoke", "--dir", str(ca_dir), *args)
        assert status == 2, args
        assert message in one_line_error(err), (args, err)


def test_revoke_refuses_a_certificate_of_another_ca(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca", "--dir", "other")
    cmcert(tmp_path, "issue", "--dir", "other", "--node", "n1")
    cmcert(tmp_path, "init-ca", "--dir", "ca")
    status, _, err = cmcert(tmp_path, "revoke", "--dir", "ca", "n1.pem")
    assert status == 2
    assert "n1.pem: certificate 0x" in one_line_error(err) and "not issued by the CA in ca" in err


def test_a_tampered_crl_is_one_line(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca", "--dir", "ca")
    cmcert(tmp_path, "issue", "--dir", "ca", "--node", "n1")
    cmcert(tmp_path, "revoke", "--dir", "ca", "--node", "n1")
    crl = tmp_path / "ca" / "ca.crl"
    lines = crl.read_text().splitlines()
    lines[3] = lines[3][:10] + ("A" if lines[3][10] != "A" else "B") + lines[3][11:]
    crl.write_text("\n".join(lines) + "\n")
    status, _, err = cmcert(tmp_path, "revoke", "--dir", "ca", "--serial", "77")
    assert status == 2
    line = one_line_error(err)
    assert line.startswith(f"cmcert: {Path('ca') / 'ca.crl'}: ")
    assert "not a valid CRL" in line or "signature does not verify" in line


def test_a_new_ca_sets_the_old_records_aside(tmp_path: Path) -> None:
    cmcert(tmp_path, "init-ca", "--dir", "ca")
    cmcert(tmp_path, "issue", "--dir", "ca", "--node", "n1")
    cmcert(tmp_path, "revoke", "--dir", "ca", "--node", "n1")
    assert cmcert(tmp_path, "init-ca", "--dir", "ca", "--force")[0] == 0
    assert not (tmp_path / "ca" / "ca.crl").exists()
    assert len(list((tmp_path / "ca").glob("issued.before-*"))) == 1
    status, out, _ = cmcert(tmp_path, "list", "--dir", "ca")
    assert status == 0 and "no certificate in the index" in out
