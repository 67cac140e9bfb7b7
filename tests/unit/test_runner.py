"""The package runner with real resources: run/halt scripts and OCF agents written
by the test, so every step really runs a process.

Each resource appends "<name> <action>" to one journal file: the order of the lines is
the order the runner drove them in.
"""

import asyncio
import logging
from pathlib import Path

import pytest

from cluster.packages.runner import PackageRunner, State
from cluster.resources.base import Context, NotNow
from cluster.resources.ocf import OcfAgent
from cluster.resources.script import Scripts


def executable(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def script(tmp: Path, name: str, journal: Path, fail: str = "", sleep: float = 0) -> Scripts:
    """RUN_SCRIPT and HALT_SCRIPT in one file, failing on the action named by `fail`."""
    body = f"""#!/bin/sh
echo "{name} $1" >> {journal}
[ "$1" = start ] && sleep {sleep}
[ "$1" = "{fail}" ] && exit 3
exit 0
"""
    path = executable(tmp / f"{name}.sh", body)
    return Scripts(run_script=path, halt_script=path, run_timeout=2.0, halt_timeout=2.0)


def agent(tmp: Path, name: str, journal: Path, fail: str = "") -> OcfAgent:
    """An OCF agent: start/stop/monitor, exit codes per the spec, state in a file."""
    root = tmp / "ocf"
    (root / "resource.d" / "test").mkdir(parents=True, exist_ok=True)
    state = tmp / f"{name}.state"
    body = f"""#!/bin/sh
echo "{name} $1" >> {journal}
[ "$1" = "{fail}" ] && {{ touch {state}; exit 1; }}
case "$1" in
  start) touch {state}; exit 0 ;;
  stop) rm -f {state}; exit 0 ;;
  monitor) [ -e {state} ] && exit 0; exit 7 ;;
  *) exit 3 ;;
esac
"""
    executable(root / "resource.d" / "test" / name, body)
    return OcfAgent(provider="test", agent=name, instance=name, ocf_root=str(root))


def runner(tmp: Path, *resources: object) -> PackageRunner:
    return PackageRunner(
        name="pkg",
        node="n1",
        resources=list(resources),  # type: ignore[arg-type]
        log=logging.getLogger("test.runner"),
        output=tmp / "pkg.log",
    )


def state(r: PackageRunner) -> State:
    return r.state  # read afresh each time (mypy would narrow the attribute)


def lines(journal: Path) -> list[str]:
    return journal.read_text().splitlines() if journal.exists() else []


def test_start_in_order_halt_in_reverse(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    r = runner(tmp_path, script(tmp_path, "s1", journal), agent(tmp_path, "a2", journal))
    assert asyncio.run(r.start()).ok and state(r) is State.RUNNING
    assert lines(journal) == ["s1 start", "a2 start"]
    outcome = asyncio.run(r.halt())
    assert outcome.ok and outcome.clean and state(r) is State.HALTED
    assert lines(journal)[2:] == ["a2 stop", "s1 stop"]
    assert r.active_resources() == []


def test_failed_agent_start_is_stopped_and_what_ran_before_is_halted(tmp_path: Path) -> None:
    """OCF: a failed start may have done part of its work, so stop follows it."""
    journal = tmp_path / "journal"
    r = runner(
        tmp_path,
        script(tmp_path, "s1", journal),
        agent(tmp_path, "a2", journal, fail="start"),
        script(tmp_path, "s3", journal),
    )
    outcome = asyncio.run(r.start())
    assert not outcome.ok and state(r) is State.FAILED
    assert "ocf test:a2 a2" in outcome.detail and "OCF_ERR_GENERIC" in outcome.detail
    assert lines(journal) == ["s1 start", "a2 start", "a2 stop", "s1 stop"]
    assert not (tmp_path / "a2.state").exists()  # the agent's half start was undone
    assert r.active_resources() == [] and r.stop_now_actions() == []


def test_failed_run_script_is_followed_by_its_halt_script(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    r = runner(tmp_path, agent(tmp_path, "a1", journal), script(tmp_path, "s2", journal, "start"))
    outcome = asyncio.run(r.start())
    assert not outcome.ok and "s2.sh start failed" in outcome.detail
    assert lines(journal) == ["a1 start", "s2 start", "s2 stop", "a1 stop"]
    assert state(r) is State.FAILED and r.active_resources() == []


def test_a_step_over_its_timeout_fails_and_is_undone(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    slow = script(tmp_path, "s2", journal, sleep=30)
    r = runner(tmp_path, agent(tmp_path, "a1", journal), slow)
    outcome = asyncio.run(asyncio.wait_for(r.start(), 20))
    assert not outcome.ok and "timed out after 2 s" in outcome.detail
    assert lines(journal) == ["a1 start", "s2 start", "s2 stop", "a1 stop"]
    assert state(r) is State.FAILED


def test_failed_halt_leaves_the_package_failed_and_says_so(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    r = runner(
        tmp_path, script(tmp_path, "s1", journal, fail="stop"), agent(tmp_path, "a2", journal)
    )
    assert asyncio.run(r.start()).ok
    outcome = asyncio.run(r.halt())
    assert not outcome.ok and not outcome.clean
    assert state(r) is State.FAILED and r.unclean
    assert r.last_error == f"could not halt cleanly: script {tmp_path / 's1.sh'} held"
    assert lines(journal)[2:] == ["a2 stop", "s1 stop"]


@pytest.mark.parametrize("again", ["start", "halt"])
def test_start_and_halt_are_idempotent(tmp_path: Path, again: str) -> None:
    journal = tmp_path / "journal"
    r = runner(tmp_path, agent(tmp_path, "a1", journal))
    assert asyncio.run(r.start()).ok
    if again == "start":
        assert asyncio.run(r.start()).detail == "already running"
        assert lines(journal) == ["a1 start"]
    else:
        assert asyncio.run(r.halt()).ok
        assert asyncio.run(r.halt()).detail == "not running"
        assert lines(journal) == ["a1 start", "a1 stop"]


def test_check_monitors_a_running_package_and_names_what_failed(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    r = runner(tmp_path, script(tmp_path, "s1", journal), agent(tmp_path, "a2", journal))
    assert asyncio.run(r.check()) is None  # halted: nothing to monitor
    assert asyncio.run(r.start()).ok
    assert asyncio.run(r.check()) is None
    (tmp_path / "a2.state").unlink()  # the agent's resource went away behind our back
    failed = asyncio.run(r.check())
    assert failed is not None
    resource, health = failed
    assert resource.label == "ocf test:a2 a2" and "OCF_NOT_RUNNING" in health.reason
    assert lines(journal).count("a2 monitor") == 2


class HeldElsewhere(Scripts):
    """A step that finds its resource still held by another host (as the floating IP's
    duplicate-address probe does)."""

    async def start(self, ctx: Context) -> None:
        raise NotNow("198.18.0.99 is already in use on the network: answered the probe")


def test_a_start_refused_for_now_is_not_a_failure(tmp_path: Path) -> None:
    """Issue 13 point 8: the steps before are undone and the package is simply halted
    here (retried later by the coordinator), not failed."""
    journal = tmp_path / "journal"
    first = script(tmp_path, "s1", journal)
    busy = HeldElsewhere(run_script=first.run_script, halt_script=first.halt_script)
    r = runner(tmp_path, agent(tmp_path, "a1", journal), busy)
    outcome = asyncio.run(r.start())
    assert not outcome.ok and outcome.retry and "in use" in outcome.detail
    assert state(r) is State.HALTED
    assert lines(journal) == ["a1 start", "a1 stop"]
