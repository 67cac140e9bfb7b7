"""Alert scripts (ALERT_SCRIPT in the cluster file): every event this node raises runs the
scripts that want it, with the event in CM_ALERT_* variables (cluster/core/events.py).

Never on the heartbeat or failover path: `emit` only appends to a bounded queue; a task
of its own starts the scripts, each in its own process group, at most
`PER_ALERT_RUNNING` of one alert at a time (a hung script delays only its own alert's
later events) and kills one that outlives its ALERT_TIMEOUT. A script that fails or is
killed is logged, never retried; when the queue is full the oldest events are dropped
and counted (logged once a minute at most).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from cluster.config.model import Alert, Config
from cluster.core.events import Event
from cluster.version import __version__

log = logging.getLogger("cmcld.alerts")

MAX_QUEUED = 1000  # events waiting for a script; the oldest go beyond this
PER_ALERT_RUNNING = 4  # scripts of one alert running at once
OUTPUT_KEPT = 2048  # bytes of a script's output kept for the log
DROP_LOG_EVERY = 60.0  # seconds between "dropped" warnings


@dataclass(frozen=True)
class _Job:
    alert: Alert
    event: Event
    at_ns: int  # wall clock of the event
    sequence: int


class Alerts:
    def __init__(self, node: str, config: Callable[[], Config | None]) -> None:
        self.node = node
        self._config = config
        self._queue: deque[_Job] = deque()
        self._wake = asyncio.Event()
        self._running: dict[Alert, set[asyncio.Task[None]]] = {}
        self.sequence = 0
        self.dropped = 0
        self.ran = 0
        self._dropped_logged = 0.0
        self._failed_to_start: set[tuple[str, str]] = set()

    def emit(self, event: Event) -> None:
        """Queue the event for every alert that wants it; returns at once."""
        config = self._config()
        alerts = [a for a in (config.cluster.alerts if config else ()) if a.wants(event.kind)]
        if not alerts:
            return
        if not event.node:
            event = dataclasses.replace(event, node=self.node)
        self.sequence += 1
        now = time.time_ns()
        for alert in alerts:
            self._queue.append(_Job(alert, event, now, self.sequence))
        while len(self._queue) > MAX_QUEUED:
            self._queue.popleft()
            self.dropped += 1
        if self.dropped and time.monotonic() - self._dropped_logged > DROP_LOG_EVERY:
            self._dropped_logged = time.monotonic()
            log.warning("alert queue full: %d events dropped so far", self.dropped)
        self._wake.set()

    async def run(self) -> None:
        """cmcld's task: start queued scripts as their alerts have room."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            waiting: deque[_Job] = deque()
            while self._queue:
                job = self._queue.popleft()
                running = self._running.setdefault(job.alert, set())
                if len(running) >= PER_ALERT_RUNNING:
                    waiting.append(job)
                    continue
                task = asyncio.create_task(self._run(job), name=f"alert-{job.alert.name}")
                running.add(task)
                task.add_done_callback(functools.partial(self._done, running=running))
            self._queue.extendleft(reversed(waiting))

    async def close(self) -> None:
        """cmcld stopping: scripts still running are killed (and reaped)."""
        tasks = [t for running in self._running.values() for t in running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[None], *, running: set[asyncio.Task[None]]) -> None:
        running.discard(task)
        if self._queue:
            self._wake.set()

    def environment(self, job: _Job) -> dict[str, str]:
        config = self._config()
        stamp = datetime.fromtimestamp(job.at_ns / 1e9, UTC)
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        env.update(job.event.environment())
        env.update(
            {
                "CM_ALERT_NAME": job.alert.name,
                "CM_ALERT_RECIPIENT": job.alert.recipient,
                "CM_ALERT_CLUSTER": config.cluster.name if config else "",
                "CM_ALERT_REPORTER": self.node,
                "CM_ALERT_TIMESTAMP": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "CM_ALERT_TIMESTAMP_US": str(job.at_ns // 1000),
                "CM_ALERT_SEQUENCE": str(job.sequence),
                "CM_ALERT_VERSION": __version__,
            }
        )
        return env

    async def _run(self, job: _Job) -> None:
        alert, event = job.alert, job.event
        what = f"alert {alert.name} ({event.kind}, sequence {job.sequence})"
        # Output to an unnamed file, not a pipe: a script (or what it left running)
        # holding its output open can neither delay the kill nor leak a pipe.
        with tempfile.TemporaryFile() as output:
            await self._run_with(job, what, output)

    async def _run_with(self, job: _Job, what: str, output: IO[bytes]) -> None:
        alert = job.alert
        try:
            process = await asyncio.create_subprocess_exec(
                alert.script,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                env=self.environment(job),
                start_new_session=True,
            )
        except OSError as exc:
            key = (alert.name, type(exc).__name__)
            if key not in self._failed_to_start:  # once per alert and kind of error
                self._failed_to_start.add(key)
                log.error("%s: cannot run %s: %s", what, alert.script, exc.strerror or exc)
            return
        # It runs again: a later failure to start it is worth a line again.
        self._failed_to_start = {k for k in self._failed_to_start if k[0] != alert.name}
        timeout = alert.timeout_us / 1e6
        try:
            status = await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            await _kill(process)
            log.error("%s: %s still running after %g s: killed", what, alert.script, timeout)
            return
        except asyncio.CancelledError:
            await _kill(process)
            raise
        self.ran += 1
        output.seek(max(0, output.seek(0, os.SEEK_END) - OUTPUT_KEPT))
        last = output.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
        if status != 0:
            log.warning("%s: %s exited %d: %s", what, alert.script, status, last[0][:200])
        else:
            log.debug("%s: ran %s", what, alert.script)


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the script's process group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(process.wait(), 5.0)
