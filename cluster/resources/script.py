"""Package run and halt scripts, called as Serviceguard legacy control scripts are:
`RUN_SCRIPT start` and `HALT_SCRIPT stop`, each with its timeout.

A script runs in its own session with the package's environment and its output in the
package log. On timeout its whole process group is killed and the step fails. While
the package runs, stop-now also kills whatever the run script left in its process
group (background children that did not start their own session).
"""

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.resources import command
from cluster.resources.base import Context, Health, Recovery, Resource, ResourceError
from cluster.resources.procs import read_stat
from cluster.resources.stopnow import KillGroup, StopNowAction

NO_TIMEOUT = None


@dataclass
class Scripts(Resource):
    """RUN_SCRIPT / HALT_SCRIPT with RUN_SCRIPT_TIMEOUT / HALT_SCRIPT_TIMEOUT (seconds;
    NO_TIMEOUT = None)."""

    kind = "script"
    run_script: str | None = None
    halt_script: str | None = None
    run_timeout: float | None = NO_TIMEOUT
    halt_timeout: float | None = NO_TIMEOUT
    _active: bool = field(default=False, init=False, repr=False)
    _groups: list[tuple[int, int]] = field(default_factory=list, init=False, repr=False)
    _package: str = field(default="", init=False, repr=False)

    @property
    def label(self) -> str:
        return f"script {self.run_script or self.halt_script or '-'}"

    @property
    def active(self) -> bool:
        return self._active

    async def _run(self, ctx: Context, script: str, argument: str, timeout: float | None) -> None:
        if not os.access(script, os.X_OK):
            raise ResourceError(f"{script} is not an executable file", Recovery.HARD)
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        run = asyncio.create_task(
            command.run(
                [script, argument],
                env=ctx.child_env({"SG_SCRIPT_ACTION": argument}),
                timeout=timeout,
                output=ctx.output or Path(os.devnull),
                started=started,
            )
        )
        try:
            waiters: set[asyncio.Future[Any]] = {run, started}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if started.done() and not started.exception():
                pgid = started.result()
                stat = read_stat(pgid)
                self._groups.append((pgid, stat.start_time if stat else 0))
                ctx.on_change()  # ResourceError: the guard cannot be told; killed below
            done = await run
        except (asyncio.CancelledError, ResourceError):
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
            raise
        if done.timed_out:
            raise ResourceError(
                f"{script} {argument} timed out after {timeout:g} s; its process group was killed"
            )
        if done.status is not None and done.status != 0:
            what = command.describe_exit(done.status)
            raise ResourceError(f"{script} {argument} failed: it {what}")
        ctx.log.info("%s %s finished in %.2f s", script, argument, done.elapsed)

    async def _start(self, ctx: Context) -> None:
        self._package = ctx.package
        self._groups = []
        self._active = True
        if self.run_script:
            await self._run(ctx, self.run_script, "start", self.run_timeout)

    async def _stop(self, ctx: Context) -> None:
        if self.halt_script:
            await self._run(ctx, self.halt_script, "stop", self.halt_timeout)
        self._active = False
        self._groups = []
        ctx.on_change()

    async def monitor(self, ctx: Context) -> Health:
        return Health.healthy() if self._active else Health.failed("not started")

    def stop_now_actions(self) -> list[StopNowAction]:
        if not self._active:
            return []
        return [KillGroup(self._package, self.label, g, t) for g, t in reversed(self._groups)]
