"""What every resource driver offers the package runner, and what it is given.

A `Resource` is one configured resource instance of a package (a floating IP, a
filesystem, a service, ...). The runner starts resources in the order of DESIGN.md §3,
halts them in reverse, monitors them, and keeps the stop-now plan up to date from
`stop_now_actions()` of every active resource.

Drivers call `Context.on_change()` whenever their `stop_now_actions()` change: before
an irreversible step (adding an address, mounting), right after spawning a process
group (only then is it known, including at every service restart; a service waits at a
gate until then), and after undoing. A ResourceError from it (the guard could not be
told) means the step must not happen.
In that callback the runner rebuilds the plan from every active resource (each
package's resources in reverse start order) and publishes it (`Guard.publish_plan`)
before returning, so the guard never lags.

Drivers do long work asynchronously (asyncio subprocesses, `asyncio.to_thread` for
blocking syscalls) so cmcld's loop keeps renewing leases meanwhile. `start` and `stop`
are bounded by `Context.timeout`; on timeout or cancellation a driver kills what it
spawned before the error propagates.
"""

import asyncio
import enum
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from cluster.resources.mmp import History

from cluster.errors import CmError
from cluster.resources.stopnow import StopNowAction

T = TypeVar("T")


class Recovery(enum.Enum):
    """Where a failure may be retried (the OCF recovery types)."""

    SOFT = "soft"  # transient: retry here or elsewhere
    HARD = "hard"  # specific to this node: do not retry here
    FATAL = "fatal"  # the configuration is wrong: do not retry anywhere


class ResourceError(CmError):
    """A resource could not be started, stopped or checked; `str()` tells the operator
    what and why."""

    def __init__(self, message: str, recovery: Recovery = Recovery.SOFT) -> None:
        super().__init__(message)
        self.recovery = recovery


class NotNow(ResourceError):
    """The start cannot go on here now for a reason outside the package: another host
    still answers for its address (a frozen or cut-off holder whose lease has not run
    out on its own clock), or this node lost its lease meanwhile. Not a failure of the
    package on this node: the start is refused, and the coordinator retries later."""


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str = ""
    fail_fast: bool = False  # a service with SERVICE_FAIL_FAST_ENABLED failed for good

    @classmethod
    def healthy(cls, reason: str = "") -> "Health":
        return cls(True, reason)

    @classmethod
    def failed(cls, reason: str, fail_fast: bool = False) -> "Health":
        return cls(False, reason, fail_fast)


def _ignore(*_args: object) -> None:
    return None


@dataclass
class Context:
    """Everything a driver needs from the runner for one step."""

    package: str
    node: str
    log: logging.Logger  # the package log (and the daemon log)
    env: Mapping[str, str] = field(default_factory=dict)  # package variables for children
    timeout: float | None = None  # seconds for this step; None: no limit but the driver's
    output: Path | None = None  # children's stdout/stderr are appended here (package log)
    takeover: bool = False  # the previous owner's lease has surely ended: take its resources
    mmp: "History | None" = None  # MMP blocks sampled while another host held them
    on_change: Callable[[], None] = _ignore  # stop_now_actions() changed (service restart)
    on_failure: Callable[["Resource", Health], None] = _ignore  # a running resource failed
    # Whether this node may run packages right now: it holds its lease (judged from the
    # clock against the last deadline the guard accepted, not from a flag a frozen loop
    # may not have updated yet) and the guard still listens (`Guard.listening()`: false
    # once it fired). A service is never restarted otherwise.
    may_run: Callable[[], bool] = lambda: True
    # The package is in maintenance mode here (cmmodpkg -m on): a service that exits is
    # not restarted, and its failure is reported, not acted on.
    maintenance: Callable[[], bool] = lambda: False
    on_restart: Callable[["Resource", str], None] = _ignore  # a service was restarted (why)

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """cmcld's environment, the package's variables, then the driver's own."""
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        env.update(self.env)
        env.update(extra or {})
        env.setdefault("SG_PACKAGE", self.package)
        env.setdefault("SG_NODE", self.node)
        return env


class Resource(ABC):
    """One resource instance of a package."""

    kind: ClassVar[str]

    @property
    @abstractmethod
    def label(self) -> str:
        """Short operator-facing name: "ip 198.18.0.100", "service web"."""

    @property
    @abstractmethod
    def active(self) -> bool:
        """Started (or starting) and not yet stopped: stop-now must undo it."""

    async def start(self, ctx: Context) -> None:
        await bounded(self._start(ctx), ctx.timeout, f"starting {self.label}")

    async def stop(self, ctx: Context) -> None:
        await bounded(self._stop(ctx), ctx.timeout, f"halting {self.label}")

    @abstractmethod
    async def monitor(self, ctx: Context) -> Health: ...

    async def released(self, ctx: Context) -> bool:
        """After a halt that could not release this resource: True once the kernel
        shows it let go after all (it is then inactive). Most resources cannot tell:
        only another halt (cmhaltpkg) finds out."""
        return False

    @abstractmethod
    def stop_now_actions(self) -> list[StopNowAction]:
        """What must be undone at once if the lease is lost now (empty when inactive)."""

    @abstractmethod
    async def _start(self, ctx: Context) -> None: ...

    @abstractmethod
    async def _stop(self, ctx: Context) -> None: ...


async def bounded(work: Coroutine[Any, Any, T], timeout: float | None, what: str) -> T:
    """Await `work` for at most `timeout` seconds; a timeout becomes a ResourceError
    (the work is cancelled first, so it cleans up what it spawned)."""
    if timeout is None:
        return await work
    try:
        return await asyncio.wait_for(work, timeout)
    except TimeoutError:
        raise ResourceError(f"{what} timed out after {timeout:g} s") from None
