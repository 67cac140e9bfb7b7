"""Busybox-style dispatch and the no-traceback promise."""

import pytest

from cluster.cli import main as cli


def test_multicall_and_symlink_names_agree(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.dispatch(["/x/cmcluster.pyz", "cmversion"]) == 0
    by_argument = capsys.readouterr().out
    assert cli.dispatch(["/usr/local/bin/cmversion"]) == 0
    assert capsys.readouterr().out == by_argument


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.dispatch(["cmcluster.pyz", "help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert f"  {name} " in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from cluster.version import __version__

    assert cli.dispatch(["cmcluster.pyz", "--version"]) == 0
    assert capsys.readouterr().out == f"cmcluster {__version__}\n"


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.dispatch(["cmcluster.pyz", "cmfoo"]) == 2
    assert capsys.readouterr().err == "cmcluster: unknown command 'cmfoo' (see cmcluster help)\n"


def test_unknown_program_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.dispatch(["/bin/frobnicate"]) == 2
    assert "not a cmcluster command" in capsys.readouterr().err


def test_usage_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.dispatch(["cmsetlog", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err == "cmsetlog: unrecognized arguments: --bogus (see cmsetlog --help)\n"


def test_unexpected_exception_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CMCLUSTER_DEBUG", raising=False)

    def boom(argv: list[str], prog: str) -> int:
        raise ZeroDivisionError("nope")

    import cluster.cli.cmversion as mod

    monkeypatch.setattr(mod, "main", boom)
    assert cli.dispatch(["cmversion"]) == cli.INTERNAL_ERROR
    err = capsys.readouterr().err
    assert err.startswith("cmversion: internal error: ZeroDivisionError: nope")
    assert "Traceback" not in err


def test_commands_import_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from cluster.cli.main import dispatch;"
        "rc = dispatch(['cmquerycl', '--help']);"
        "print('grpc' in sys.modules, 'cryptography' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "False False"
