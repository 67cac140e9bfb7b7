import datetime as dt
from pathlib import Path

import pytest

from cluster.errors import UsageError
from tests.support import command_env, run
from tools.cmlog import LEVELS, parse_since, select

LOG = """2026-11-25 10:00:00.001 INFO n1 cmcld[1]: started
2026-11-25 10:05:00.002 WARNING n1 cmcld[1]: TLS handshake refused
2026-11-25 10:10:00.003 DEBUG n1 cmcld[1]: grpc: chatter
2026-11-25 10:15:00.004 ERROR n1 cmcld[1]: boom
"""


def test_level_filter() -> None:
    kept = list(select(LOG.splitlines(True), LEVELS["warning"], None))
    assert [line.split()[2] for line in kept] == ["WARNING", "ERROR"]


def test_since_filter() -> None:
    since = dt.datetime(2026, 11, 25, 10, 6)
    kept = list(select(LOG.splitlines(True), LEVELS["debug"], since))
    assert len(kept) == 2


def test_parse_since() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0)
    assert parse_since("90m", now) == dt.datetime(2026, 11, 25, 10, 30)
    assert parse_since("2026-11-25 10:00", now) == dt.datetime(2026, 11, 25, 10, 0)
    with pytest.raises(UsageError):
        parse_since("yesterday", now)


def test_command_reads_the_node_log(tmp_path: Path) -> None:
    log = tmp_path / "var/log/cmcluster/cmcld.log"
    log.parent.mkdir(parents=True)
    log.write_text(LOG)
    result = run(["cmlog", "-l", "warning", "-n", "1"], command_env(tmp_path, "n1"))
    assert result.status == 0
    assert result.out == LOG.splitlines(True)[-1]
    missing = run(["cmlog", "-p", "nopkg"], command_env(tmp_path, "n1"))
    assert missing.status == 2
    assert "nopkg.log: no such log" in missing.err


def test_absurd_numbers_are_one_line_errors(tmp_path: Path) -> None:
    env = command_env(tmp_path, "n1")
    for argv, message in [
        (["-n", "999999999999999999999"], "argument -n: 999999999999999999999 is out of range"),
        (["-n", "9" * 5000], "argument -n: 999999999999999999999999... is out of range"),
        (["--since", "99999999999999999999d"], "--since '99999999999999999999d': at most"),
    ]:
        result = run(["cmlog", *argv], env)
        assert result.status == 2, result
        assert result.err.startswith(f"cmlog: {message}"), result.err
        assert len(result.err.splitlines()) == 1 and len(result.err) < 200
    with pytest.raises(UsageError, match="at most 36500d ago"):
        parse_since("36501d", dt.datetime(2026, 11, 25))
    assert parse_since("36500d", dt.datetime(2026, 11, 25)).year == 1926
