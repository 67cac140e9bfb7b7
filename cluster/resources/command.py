"""Running external commands for the drivers: own process group, bounded, killable.

Every child gets its own session (so a timeout or a cancellation kills it with all
its descendants that stayed in the group) and stdin on /dev/null. Output is either
captured into a temporary file (no pipe a stray grandchild could hold open) or
appended to the package log.
"""

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cluster.resources import procs

KILL_WAIT = 5.0  # seconds to wait for a SIGKILLed leader to be reaped
OUTPUT_TAIL = 16384  # bytes of captured output kept (the end)


@dataclass(frozen=True)
class Finished:
    argv: tuple[str, ...]
    status: int | None  # exit status (negative: killed by that signal); None: timed out
    output: str  # captured stdout+stderr (tail), "" when sent to the package log
    elapsed: float

    @property
    def timed_out(self) -> bool:
        return self.status is None

    def brief(self) -> str:
        """The last line of the output, for one-line error messages (mount's pointer
        to dmesg says nothing by itself and is skipped)."""
        lines = [
            line.strip()
            for line in self.output.strip().splitlines()
            if line.strip() and not line.strip().startswith("dmesg(1)")
        ]
        return lines[-1] if lines else ""


def describe_exit(status: int) -> str:
    """ "exited with status 3", "was killed by SIGKILL": how a child ended."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


async def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    output: Path | None = None,
    grace: float = 0.0,
    started: "asyncio.Future[int] | None" = None,
) -> Finished:
    """Run `argv` to completion or `timeout`, then return how it ended.

    Output goes to `output` (appended) when given, else it is captured. On timeout the
    process group gets SIGTERM, `grace` seconds, then SIGKILL. `started`, when given,
    receives the PID (= process group) as soon as the child exists. On cancellation the
    group is killed before CancelledError propagates.
    """
    t0 = time.monotonic()
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("ab") if output is not None else tempfile.TemporaryFile() as sink:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except OSError as exc:
            if started is not None and not started.done():
                started.set_exception(exc)
            return Finished(tuple(argv), 127, f"{argv[0]}: {exc.strerror or exc}", 0.0)
        if started is not None and not started.done():
            started.set_result(process.pid)
        try:
            status: int | None = await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            await terminate_group(process, grace)
            status = None
        except asyncio.CancelledError:
            await terminate_group(process, 0.0)
            raise
        text = ""
        if output is None:
            sink.seek(max(0, sink.seek(0, os.SEEK_END) - OUTPUT_TAIL))
            text = sink.read().decode(errors="replace")
    return Finished(tuple(argv), status, text, time.monotonic() - t0)


@dataclass(frozen=True)
class Termination:
    killed: bool  # SIGKILL was needed (SIGTERM and the grace period did not suffice)
    gone: bool  # no member of the group is left alive


async def terminate_group(process: asyncio.subprocess.Process, grace: float) -> Termination:
    """SIGTERM the child's process group, wait up to `grace` seconds for the whole
    group, then SIGKILL what is left; reap the child and wait for the rest of the group
    (members that survive SIGKILL are in uninterruptible sleep)."""
    pgid = process.pid
    if grace > 0 and procs.signal_group(pgid, signal.SIGTERM):
        deadline = time.monotonic() + grace
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace)
        remaining = max(0.0, deadline - time.monotonic())
        if await asyncio.to_thread(procs.wait_gone, [pgid], remaining, group=True):
            return Termination(killed=False, gone=True)
    killed = procs.signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_WAIT)
    gone = await asyncio.to_thread(procs.wait_gone, [pgid], KILL_WAIT, group=True)
    return Termination(killed=killed, gone=gone)
