"""Monitored services: SERVICE_CMD supervised and restarted, halted by process group.

Each service runs as `/bin/sh -c SERVICE_CMD` in its own session (so its process
group holds everything it starts that does not leave on purpose), with the package's
environment and its output appended to the package log; it waits at a gate until the
lease guard knows its process group, so the guard learns of it before it runs. When it
exits it is restarted up to SERVICE_RESTART times ("none", N or "unlimited"); after
that the service has failed, and the failure carries SERVICE_FAIL_FAST_ENABLED for the
runner. Halting sends SIGTERM to the group, waits SERVICE_HALT_TIMEOUT, then SIGKILLs
the group.
"""

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cluster.resources import command, procs
from cluster.resources.base import Context, Health, Recovery, Resource, ResourceError
from cluster.resources.stopnow import KillGroup, StopNowAction

UNLIMITED = None
# SERVICE_CMD waits behind this gate until cmcld has told the lease guard of its process
# group (stdin is a pipe; one line opens it, end-of-file, as when cmcld dies first,
# ends it without running the command). $0 is SERVICE_CMD.
GATE = 'read -r _ || exit 125; exec /bin/sh -c "$0" </dev/null'


def parse_restart(text: str) -> int | None:
    """SERVICE_RESTART: "none" -> 0, "unlimited" -> None (UNLIMITED), "N" -> N; the
    legacy forms "-r N" and "-R" are accepted too."""
    value = text.strip().lower()
    if value in ("", "none"):
        return 0
    if value in ("unlimited", "-r"):
        return UNLIMITED
    if value.startswith("-r "):
        value = value[3:].strip()
    if value.isdigit():
        return int(value)
    raise ResourceError(
        f"SERVICE_RESTART {text!r}: expected none, unlimited or a number", Recovery.FATAL
    )


@dataclass
class Service(Resource):
    """SERVICE_NAME[n] with its SERVICE_CMD, SERVICE_RESTART, SERVICE_FAIL_FAST_ENABLED and
    SERVICE_HALT_TIMEOUT."""

    kind = "service"
    name: str
    cmd: str
    restart: int | None = 0  # restarts allowed; UNLIMITED (None) for no limit
    fail_fast: bool = False
    halt_timeout: float = 300.0  # seconds between SIGTERM and SIGKILL of the group
    # Unlimited restarts of a service that keeps dying at once are spaced this far
    # apart (seconds), so a broken command cannot spin.
    min_restart_interval: float = 1.0
    restarts: int = field(default=0, init=False)  # restarts done since start
    _process: asyncio.subprocess.Process | None = field(default=None, init=False, repr=False)
    _leader_start: int = field(default=0, init=False, repr=False)
    _spawned_at: float = field(default=0.0, init=False, repr=False)
    _supervisor: "asyncio.Task[None] | None" = field(default=None, init=False, repr=False)
    _stopping: bool = field(default=False, init=False, repr=False)
    _failure: Health | None = field(default=None, init=False, repr=False)
    _package: str = field(default="", init=False, repr=False)

    @property
    def label(self) -> str:
        return f"service {self.name}"

    @property
    def active(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        """PID (and process group) of the current instance, if one runs."""
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    def restart_text(self) -> str:
        limit = "unlimited" if self.restart is UNLIMITED else str(self.restart)
        return f"{self.restarts}/{limit}"

    def _tell(self, ctx: Context, call: Callable[[], None]) -> None:
        """Run a runner callback from the supervisor, which must outlive its errors."""
        try:
            call()
        except Exception as exc:
            ctx.log.error("service %s: the runner's callback failed: %s", self.name, exc)

    async def _spawn(self, ctx: Context) -> None:
        """One instance of the service. Its process group is spawned held at GATE, the
        lease guard is told of it, and only then does SERVICE_CMD run; ResourceError
        (after killing the group) when the guard cannot be told."""
        out = os.open(ctx.output or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        gate, opener = os.pipe()  # both close-on-exec: the child gets `gate` as stdin
        try:
            process = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                GATE,
                self.cmd,
                stdin=gate,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=ctx.child_env({"SG_SERVICE": self.name}),
                start_new_session=True,
            )
        except BaseException:
            os.close(opener)
            raise
        finally:
            os.close(out)
            os.close(gate)
        try:
            stat = procs.read_stat(process.pid)
            self._process, self._spawned_at = process, time.monotonic()
            self._leader_start = stat.start_time if stat else 0
            try:
                ctx.on_change()  # the guard learns of the process group
            except ResourceError:
                # The guard could not be told: what it cannot stop must not run.
                procs.signal_group(process.pid, signal.SIGKILL)
                await process.wait()
                self._process = None
                raise
            with contextlib.suppress(BrokenPipeError):  # it died already: supervised
                os.write(opener, b"run\n")
        finally:
            os.close(opener)
        ctx.log.info(
            "service %s started, pid %d (restarts %s)", self.name, process.pid, self.restart_text()
        )

    async def _start(self, ctx: Context) -> None:
        self._package = ctx.package
        self.restarts, self._failure, self._stopping = 0, None, False
        try:
            await self._spawn(ctx)
        except OSError as exc:
            raise ResourceError(
                f"cannot start service {self.name}: {exc.strerror or exc}"
            ) from None
        self._supervisor = asyncio.create_task(self._supervise(ctx))

    async def _supervise(self, ctx: Context) -> None:
        while self._process is not None:
            status = await self._process.wait()
            if self._stopping:
                return
            procs.signal_group(self._process.pid, signal.SIGKILL)  # what it left behind
            how = command.describe_exit(status)
            maintenance = ctx.maintenance()
            restarts_left = self.restart is UNLIMITED or self.restarts < self.restart
            if ctx.may_run() and not maintenance and restarts_left:
                self.restarts += 1
                ctx.log.warning("service %s %s; restart %s", self.name, how, self.restart_text())
                lived = time.monotonic() - self._spawned_at
                if self.restart is UNLIMITED and lived < self.min_restart_interval:
                    await asyncio.sleep(self.min_restart_interval - lived)
                if self._stopping:
                    return
                if ctx.may_run():
                    try:
                        await self._spawn(ctx)
                        self._tell(ctx, functools.partial(ctx.on_restart, self, how))
                        continue
                    except OSError as exc:
                        how = f"could not be restarted: {exc.strerror or exc}"
                    except ResourceError as exc:
                        how = f"could not be restarted: {exc}"
            if not ctx.may_run():
                # Killed by stop-now, or died after the lease was lost: restarting it
                # could run it on two nodes at once.
                how += "; not restarted: this node no longer holds its lease"
            elif maintenance:
                how += "; not restarted: the package is in maintenance mode"
            after = f" after {self.restarts} restart(s)" if self.restarts else ""
            self._failure = Health.failed(f"service {self.name} {how}{after}", self.fail_fast)
            ctx.log.error(
                "%s%s", self._failure.reason, " (fail fast enabled)" if self.fail_fast else ""
            )
            self._process = None
            failure = self._failure
            self._tell(ctx, functools.partial(ctx.on_failure, self, failure))
            self._tell(ctx, ctx.on_change)

    async def _stop(self, ctx: Context) -> None:
        self._stopping = True
        if self._supervisor is not None:
            # First, so no restart can slip in while the current instance is halted.
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        process = self._process
        try:
            if process is not None:
                if process.returncode is None:
                    ctx.log.info("halting service %s (pid %d)", self.name, process.pid)
                ended = await command.terminate_group(process, self.halt_timeout)
                if ended.killed:
                    ctx.log.warning(
                        "service %s did not stop within %g s of SIGTERM; its process group "
                        "was killed",
                        self.name,
                        self.halt_timeout,
                    )
                if not ended.gone:
                    raise ResourceError(
                        f"service {self.name}: processes of group {process.pid} survived "
                        f"SIGKILL: {procs.group_members(process.pid)}"
                    )
        except asyncio.CancelledError:
            if process is not None:
                procs.signal_group(process.pid, signal.SIGKILL)
            raise
        self._process = None
        ctx.on_change()

    async def monitor(self, ctx: Context) -> Health:
        if self._failure is not None:
            return self._failure
        if self._process is None:
            return Health.failed(f"service {self.name} is not running")
        if self._process.returncode is not None:
            return Health.healthy(f"restarting (restarts {self.restart_text()})")
        return Health.healthy(f"pid {self._process.pid}, restarts {self.restart_text()}")

    def stop_now_actions(self) -> list[StopNowAction]:
        if self._process is None:
            return []
        return [KillGroup(self._package, self.label, self._process.pid, self._leader_start)]
