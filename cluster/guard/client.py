"""cmcld's side of the guard: start it, renew the deadline, publish the plan, disarm.

    guard = Guard.start(paths, node="a", margin_ns=200_000_000)
    guard.publish_plan(plan)           # whenever a resource becomes active or inactive
    guard.renew(deadline_ns)           # whenever the lease is extended (CLOCK_MONOTONIC)
    guard.listening()                  # with the lease clock: Context.may_run
    guard.disarm()                     # no lease any more and nothing running
    guard.close()                      # clean shutdown of cmcld

`renew` raises GuardFired once the guard has performed stop-now (or GuardGone when it
died): cmcld must then treat the lease as lost, and `fired_record()` stays until an
operator clears it with `clear_fired()`; the node must not rejoin before.
"""

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.errors import CmError
from cluster.guard import protocol as p
from cluster.paths import ROOT_ENV, HostPaths
from cluster.resources import procs
from cluster.resources.stopnow import Plan, save_plan


class GuardError(CmError):
    """The guard could not be started or reached."""


class GuardFired(GuardError):
    """The guard has performed stop-now: this node's packages were stopped."""


class GuardGone(GuardError):
    """The guard process is not running: the lease has no safety net."""


@dataclass(frozen=True)
class GuardStatus:
    pid: int
    alive: bool
    state: str  # protocol.IDLE, ARMED, FIRED, EXITED, or "unknown"
    deadline_ns: int
    margin_ns: int
    plan_actions: int
    priority: dict[str, str]
    watchdog: dict[str, Any] | None
    fired: dict[str, Any] | None


def default_command() -> list[str]:
    """How to run this cmcluster: the zipapp itself, or the source tree."""
    here = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if here and zipfile.is_zipfile(here) and os.access(here, os.X_OK):
        return [here]
    return [sys.executable, "-m", "cluster"]


def _make_fifo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if stat.S_ISFIFO(path.lstat().st_mode):
            return
        path.unlink()
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)


class Guard:
    def __init__(
        self, files: p.GuardFiles, pid: int, process: "subprocess.Popen[bytes] | None"
    ) -> None:
        self.files, self.pid, self.process = files, pid, process
        try:
            self.fd = os.open(files.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise GuardGone(
                f"cannot reach the guard through {files.fifo}: {exc.strerror}"
            ) from None

    @classmethod
    def start(
        cls,
        paths: HostPaths,
        *,
        node: str,
        margin_ns: int,
        command: Sequence[str] | None = None,
        watchdog: str | None = None,
        watchdog_interval: float = 1.0,
        watchdog_timeout: int | None = None,
        rt_priority: int = 20,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 10.0,
    ) -> "Guard":
        """Start the guard process (in its own session, so signals to cmcld's process
        group never reach it) and wait until it listens."""
        files = p.GuardFiles.from_paths(paths)
        running = cls.running_pid(paths)
        if running:
            raise GuardError(f"a guard is already running (pid {running}): attach to it")
        _make_fifo(files.fifo)
        files.log.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            files.status.unlink()
        argv = [*(command or default_command()), "cmguard", "--node", node]
        argv += ["--margin-ms", str(margin_ns / 1e6), "--rt-priority", str(rt_priority)]
        if watchdog:
            argv += ["--watchdog", watchdog, "--watchdog-interval", str(watchdog_interval)]
            if watchdog_timeout:
                argv += ["--watchdog-timeout", str(watchdog_timeout)]
        child_env = dict(os.environ if env is None else env)
        child_env[ROOT_ENV] = str(paths.root)
        child_env.pop("NOTIFY_SOCKET", None)
        with files.log.open("ab") as out:
            process = subprocess.Popen(
                argv,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                cwd="/",
            )
        deadline = time.monotonic() + ready_timeout
        while True:
            status = p.read_json(files.status)
            if status and status.get("pid") == process.pid and status.get("state") == p.IDLE:
                return cls(files, process.pid, process)
            if process.poll() is not None or time.monotonic() >= deadline:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                tail = files.log.read_text(errors="replace").strip().splitlines()[-3:]
                raise GuardError(
                    f"the guard did not start (exit {process.returncode}): {' / '.join(tail)}"
                )
            time.sleep(0.005)

    @classmethod
    def attach(cls, paths: HostPaths) -> "Guard":
        """Reconnect to a guard left running by a previous cmcld."""
        files = p.GuardFiles.from_paths(paths)
        pid = cls.running_pid(paths)
        if not pid:
            raise GuardGone("no guard is running")
        return cls(files, pid, None)

    @staticmethod
    def running_pid(paths: HostPaths) -> int:
        status = p.read_json(p.GuardFiles.from_paths(paths).status) or {}
        pid = int(status.get("pid", 0))
        if status.get("state") in (p.EXITED, None) or not procs.alive(pid):
            return 0
        return pid

    def _send(self, command: int, value: int = 0) -> None:
        if self.fd < 0:
            raise GuardGone("this guard handle was closed")
        try:
            os.write(self.fd, p.encode(command, value))
        except BrokenPipeError:
            raise self._lost() from None
        except BlockingIOError:
            raise GuardError("the guard is not reading its commands (FIFO full)") from None

    def _lost(self) -> GuardError:
        status = self.status()
        if status.state == p.FIRED:
            return GuardFired(f"the guard (pid {self.pid}) performed stop-now")
        if status.alive:  # closing the FIFO is the first thing firing does
            return GuardFired(f"the guard (pid {self.pid}) is performing stop-now")
        return GuardGone(f"the guard (pid {self.pid}) is not running")

    def renew(self, deadline_ns: int) -> None:
        """The lease now ends at `deadline_ns` (time.monotonic_ns()); arms the guard."""
        self._send(p.RENEW, deadline_ns)

    def listening(self) -> bool:
        """False once the guard has fired (or died). The guard stops listening before it
        kills anything, so a resource that stop-now killed is never seen dying while
        this still says True: check it (with the lease clock) before restarting
        anything, as `Context.may_run`."""
        try:
            self._send(p.NOP)
        except (GuardGone, GuardFired):
            return False
        except GuardError:
            return True  # FIFO full: the guard is slow, not known to have fired
        return True

    def set_margin(self, margin_ns: int) -> None:
        self._send(p.MARGIN, margin_ns)

    def set_watchdog_limit(self, limit_ns: int, lease_ns: int) -> None:
        """The longest watchdog timeout that still resets this host, frozen with its
        guard, before its lease ends, and the lease length (MEMBER_TIMEOUT) the guard's
        feed rule needs; the guard fits the device under the limit."""
        self._send(p.LEASE, lease_ns)
        self._send(p.WATCHDOG_LIMIT, limit_ns)

    def publish_plan(self, plan: Plan, generation: int | None = None) -> None:
        """Save the plan atomically, then tell the guard to reload it. Call it from the
        runner's `Context.on_change` before the change takes effect."""
        save_plan(self.files.plan, plan)
        self._send(p.PLAN, generation if generation is not None else time.monotonic_ns())

    def disarm(self) -> None:
        """No lease any more, nothing running: the deadline no longer matters."""
        self._send(p.DISARM)

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return procs.alive(self.pid)

    def status(self) -> GuardStatus:
        doc = p.read_json(self.files.status) or {}
        same = doc.get("pid") == self.pid
        return GuardStatus(
            pid=self.pid,
            alive=self.alive(),
            state=str(doc.get("state", "unknown")) if same else "unknown",
            deadline_ns=int(doc.get("deadline_ns", 0)) if same else 0,
            margin_ns=int(doc.get("margin_ns", 0)) if same else 0,
            plan_actions=int(doc.get("plan_actions", 0)) if same else 0,
            priority=dict(doc.get("priority") or {}) if same else {},
            watchdog=doc.get("watchdog") if same else None,
            fired=doc.get("fired") if same else None,
        )

    def close(self, timeout: float = 5.0) -> None:
        """Disarm the guard and let it exit (SIGTERM if it no longer reads commands)."""
        if self.fd < 0 and not self.alive():
            return
        try:
            self._send(p.EXIT)
        except GuardError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        finally:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.alive():
            raise GuardError(f"the guard (pid {self.pid}) did not exit within {timeout:g} s")

    def detach(self) -> None:
        """Close this handle and leave the guard as it is: armed, it fires at its
        deadline with its plan (cmcld stops while something is still held)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @staticmethod
    def fired_path(paths: HostPaths) -> Path:
        return p.GuardFiles.from_paths(paths).fired

    @staticmethod
    def fired_record(paths: HostPaths) -> dict[str, Any] | None:
        """The stop-now the guard performed, until an operator clears it."""
        return p.read_json(p.GuardFiles.from_paths(paths).fired)

    @staticmethod
    def clear_fired(paths: HostPaths) -> bool:
        try:
            p.GuardFiles.from_paths(paths).fired.unlink()
        except FileNotFoundError:
            return False
        return True
