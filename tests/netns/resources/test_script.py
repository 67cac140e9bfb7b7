"""Run and halt scripts: arguments, environment, failures and timeouts."""

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from cluster.resources import procs, stopnow
from cluster.resources.base import Context, ResourceError
from cluster.resources.script import Scripts
from tests.netns.resources.conftest import Recorder, make_context


def script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_run_and_halt_get_start_and_stop(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    calls = tmp_path / "calls"
    body = f'echo "$1 $SG_PACKAGE $PKG_VAR $SG_SCRIPT_ACTION" >> {calls}; echo said $1'
    control = script(tmp_path / "pkg1.cntl", body)
    scripts = Scripts(run_script=control, halt_script=control, run_timeout=10, halt_timeout=10)

    async def scenario() -> None:
        await scripts.start(context)
        assert scripts.active and (await scripts.monitor(context)).ok
        await scripts.stop(context)
        assert not scripts.active and scripts.stop_now_actions() == []

    asyncio.run(scenario())
    assert calls.read_text().splitlines() == [
        "start pkg1 from-package start",
        "stop pkg1 from-package stop",
    ]
    assert "said start\nsaid stop\n" in (tmp_path / "pkg1.log").read_text()


def test_failing_run_script(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    scripts = Scripts(run_script=script(tmp_path / "run", "echo broken >&2; exit 4"))
    with pytest.raises(ResourceError, match=r"run start failed: it exited with status 4"):
        asyncio.run(scripts.start(context))
    assert "broken" in (tmp_path / "pkg1.log").read_text()


def test_missing_script_is_a_hard_error(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    scripts = Scripts(run_script=str(tmp_path / "absent"))
    with pytest.raises(ResourceError, match="is not an executable file") as err:
        asyncio.run(scripts.start(context))
    assert err.value.recovery.value == "hard"


def test_run_script_timeout_kills_its_group(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, rec = ctx
    child = tmp_path / "child"
    body = f"trap '' TERM; sleep 300 & echo $! > {child}; sleep 300"
    scripts = Scripts(run_script=script(tmp_path / "slow", body), run_timeout=0.5)

    async def scenario() -> list[stopnow.StopNowAction]:
        t0 = time.monotonic()
        with pytest.raises(ResourceError, match=r"slow start timed out after 0.5 s"):
            await scripts.start(context)
        assert time.monotonic() - t0 < 3
        return scripts.stop_now_actions()

    actions = asyncio.run(scenario())
    assert child.exists()
    assert not procs.alive(int(child.read_text()))
    # While the script ran, the plan knew its group; after the kill it is gone for good.
    assert rec.changes >= 1
    (action,) = actions
    assert isinstance(action, stopnow.KillGroup)
    assert stopnow.execute(stopnow.build_plan("a", actions)).outcomes[0].detail == "already gone"


def test_step_timeout_cancels_and_kills(tmp_path: Path) -> None:
    """The runner's per-step timeout (Context.timeout) cancels a script with no
    timeout of its own; the cancellation kills the script's group."""
    context, _rec = make_context(tmp_path, timeout=0.3)
    pid_file = tmp_path / "pid"
    scripts = Scripts(run_script=script(tmp_path / "hang", f"echo $$ > {pid_file}; sleep 300"))
    with pytest.raises(ResourceError, match=r"starting script .* timed out after 0.3 s"):
        asyncio.run(scripts.start(context))
    assert not procs.alive(int(pid_file.read_text()))


def test_background_child_of_run_script_is_in_the_plan(
    ctx: tuple[Context, Recorder], tmp_path: Path
) -> None:
    """A daemon a run script leaves behind in its group is killed by stop-now."""
    context, _rec = ctx
    child = tmp_path / "child"
    scripts = Scripts(run_script=script(tmp_path / "run", f"sleep 300 & echo $! > {child}"))
    asyncio.run(scripts.start(context))
    pid = int(child.read_text())
    try:
        assert procs.alive(pid)
        report = stopnow.execute(stopnow.build_plan("a", scripts.stop_now_actions()))
        assert report.outcomes[0].detail == "killed"
        assert procs.wait_gone([pid], 2)
    finally:
        if procs.alive(pid):
            os.kill(pid, signal.SIGKILL)
