"""The stop-now plan: what must be undone at once when this node loses its lease.

A plan is an ordered list of small serializable actions. cmcld saves it (atomically,
0600) whenever a resource becomes active or inactive; the guard loads it and, when
the lease deadline passes without renewal, executes it with `execute`, which never
raises, continues past failures and reports each action's outcome and duration.

Order within a package, whatever the start order was: kill process groups (services,
running scripts) -> delete floating IPs (clients stop reaching this node) -> OCF agents'
stop -> kill the users of each filesystem and unmount it (forced, then lazy) ->
deactivate volume groups. Every action is idempotent ("already gone" is success), so
cmcld and the guard may both execute a plan.

Stop-now must end within STOP_MARGIN (DESIGN.md §2), so packages stop in parallel and
every step is bounded: `bound_ns` is what the executor allows an action (the
STOP_NOW_* constants of cluster/core/timing.py), a package needs the sum of its
actions' bounds, a node the largest of its packages'. The executor is one thread
polling non-blocking steps (children for LVM and OCF, EBUSY retries for umount), so
one slow package never holds another back. What it cannot bound is a syscall the
kernel keeps (an umount flushing a slow disk): the measured figures show that.

Only the standard library's lightest modules are imported (no asyncio, no subprocess,
no threads): the guard must start and act fast, and a child is spawned only for LVM
and OCF.
"""

import contextlib
import ctypes
import errno
import json
import os
import signal
import stat
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

from cluster.atomicfile import write_atomic
from cluster.core.timing import (
    STOP_NOW_OCF,
    STOP_NOW_START,
    STOP_NOW_STEP,
    STOP_NOW_UNMOUNT,
    STOP_NOW_VG,
)
from cluster.network import netlink
from cluster.paths import HostPaths
from cluster.resources import procs

PLAN_VERSION = 1
MNT_FORCE, MNT_DETACH = 1, 2
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin")


class PlanError(ValueError):
    """A plan file that cannot be read back: the message names the file."""


@dataclass(frozen=True)
class KillGroup:
    """SIGKILL a process group we started (a service, a running script)."""

    kind: ClassVar[str] = "kill_group"
    phase: ClassVar[int] = 0
    package: str
    label: str
    pgid: int
    start_time: int  # of the group leader (procs.ProcStat.start_time)


@dataclass(frozen=True)
class DeleteAddress:
    """Remove a floating IP from whichever interfaces carry it: local LAN failover may
    have moved it since the plan was written (`interface` is where it was put)."""

    kind: ClassVar[str] = "delete_address"
    phase: ClassVar[int] = 1
    package: str
    label: str
    interface: str
    address: str
    prefix_len: int


@dataclass(frozen=True)
class OcfStop:
    """Run an OCF agent's stop with a short timeout (exit 0 or 7 is success)."""

    kind: ClassVar[str] = "ocf_stop"
    phase: ClassVar[int] = 2
    package: str
    label: str
    agent: str  # path of the agent executable
    env: dict[str, str] = field(default_factory=dict)  # OCF_* variables
    timeout: float = STOP_NOW_OCF / 1e9


@dataclass(frozen=True)
class Unmount:
    """SIGKILL the users of a mounted filesystem, then unmount it, forcing and at last
    detaching lazily when it stays busy. A filesystem detached lazily before
    (`detached_dev`) is not done with while it lives on: its users are killed and the
    kernel must let the device go within the bound."""

    kind: ClassVar[str] = "unmount"
    phase: ClassVar[int] = 3
    package: str
    label: str
    mount_point: str
    device: str
    timeout: float = STOP_NOW_UNMOUNT / 1e9  # then forced, then detached lazily
    detached_dev: int = 0  # st_dev of this filesystem once detached lazily (0: it was not)


@dataclass(frozen=True)
class DeactivateVG:
    """Deactivate an LVM volume group and drop this node's ownership tag."""

    kind: ClassVar[str] = "deactivate_vg"
    phase: ClassVar[int] = 4
    package: str
    label: str
    vg: str
    node: str
    devices: tuple[str, ...] = ()  # restrict LVM to these devices (--devices), if any
    timeout: float = STOP_NOW_VG / 1e9  # -a n, then --deltag in what is left


StopNowAction: TypeAlias = KillGroup | DeleteAddress | OcfStop | Unmount | DeactivateVG
ACTION_TYPES: dict[str, type[StopNowAction]] = {
    t.kind: t for t in (KillGroup, DeleteAddress, OcfStop, Unmount, DeactivateVG)
}


@dataclass(frozen=True)
class Plan:
    node: str
    actions: tuple[StopNowAction, ...] = ()


def build_plan(node: str, actions: list[StopNowAction]) -> Plan:
    """Order actions by phase, keeping the callers' order within a phase (callers pass
    each package's resources in reverse start order)."""
    return Plan(node, tuple(sorted(actions, key=lambda a: a.phase)))


def plan_path(paths: HostPaths) -> Path:
    return paths.state_dir / "stopnow.json"


def plan_to_json(plan: Plan) -> bytes:
    actions = [{"kind": a.kind, **asdict(a)} for a in plan.actions]
    doc = {"version": PLAN_VERSION, "node": plan.node, "actions": actions}
    return json.dumps(doc, indent=1).encode()


def plan_from_json(data: bytes, where: str = "plan") -> Plan:
    try:
        doc = json.loads(data)
        if doc.get("version") != PLAN_VERSION:
            raise PlanError(f"{where}: unknown plan version {doc.get('version')!r}")
        actions: list[StopNowAction] = []
        for item in doc["actions"]:
            fields = dict(item)
            cls = ACTION_TYPES[fields.pop("kind")]
            if "devices" in fields:
                fields["devices"] = tuple(fields["devices"])
            actions.append(cls(**fields))
        return Plan(str(doc["node"]), tuple(actions))
    except PlanError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PlanError(f"{where}: not a stop-now plan: {exc!r}") from None


def save_plan(path: Path, plan: Plan) -> None:
    """Persist atomically, 0600 (OCF parameters may hold secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, plan_to_json(plan), mode=0o600)


def load_plan(path: Path, node: str = "") -> Plan:
    """The saved plan; an empty one when no file exists (nothing was ever active)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Plan(node)
    return plan_from_json(data, str(path))


# -- bounds -----------------------------------------------------------------------------


def bound_ns(action: StopNowAction) -> int:
    """How long the executor lets `action` take before it gives up on it."""
    if isinstance(action, (KillGroup, DeleteAddress)):
        return STOP_NOW_STEP
    if isinstance(action, Unmount):
        return round(action.timeout * 1e9) + 2 * STOP_NOW_STEP  # + forced, + lazy
    return round(action.timeout * 1e9)


def package_bounds(plan: Plan) -> dict[str, int]:
    """Per package, the longest its stop-now may take: its actions run one after the
    other, packages side by side, after the guard's wake-up."""
    bounds: dict[str, int] = {}
    for action in plan.actions:
        bounds[action.package] = bounds.get(action.package, STOP_NOW_START) + bound_ns(action)
    return bounds


def still_held(action: StopNowAction) -> StopNowAction:
    """`action` as kept in the plan after it failed: an unmount that ended in a lazy
    detach (the mount is hidden, not gone) is done with only once the device is let
    go, so it carries the device's number (a block device's; nothing else can be
    told apart after the detach)."""
    if not isinstance(action, Unmount) or action.detached_dev:
        return action
    try:
        info = os.stat(action.device)
    except OSError:
        return action
    if not stat.S_ISBLK(info.st_mode):
        return action
    return replace(action, detached_dev=info.st_rdev)


# -- execution --------------------------------------------------------------------------

POLL_FIRST, POLL_MAX = 0.0005, 0.005  # seconds between polls of waiting steps
Result: TypeAlias = tuple[bool, str]
Step: TypeAlias = Generator[None, None, Result]  # yields while it waits; returns its result


@dataclass(frozen=True)
class Outcome:
    kind: str
    package: str
    label: str
    ok: bool
    elapsed_ns: int
    detail: str = ""
    done_ns: int = 0  # when it ended, from the start of the stop-now


@dataclass(frozen=True)
class Report:
    started_ns: int  # CLOCK_MONOTONIC
    finished_ns: int
    outcomes: tuple[Outcome, ...]

    @property
    def clean(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def elapsed_ns(self) -> int:
        return self.finished_ns - self.started_ns

    def package_times(self) -> dict[str, int]:
        """How long each package took to stop (they stop side by side), ns."""
        times: dict[str, int] = {}
        for o in self.outcomes:
            times[o.package] = max(times.get(o.package, 0), o.done_ns)
        return times

    def summary(self, margin_ns: int = 0) -> str:
        """One sentence: the whole, each package, and the margin it had to fit in."""
        times = self.package_times()
        each = ", ".join(f"{p} {ms(t)}" for p, t in sorted(times.items(), key=lambda x: -x[1]))
        text = f"{len(self.outcomes)} action(s) of {len(times)} package(s) in {ms(self.elapsed_ns)}"
        text += f" ({each})" if each else ""
        if margin_ns > 0:
            over = self.elapsed_ns - margin_ns
            text += (
                f", {ms(over)} MORE than STOP_MARGIN {ms(margin_ns)}"
                if over > 0
                else f", within STOP_MARGIN {ms(margin_ns)}"
            )
        return text + ("" if self.clean else "; NOT CLEAN")

    def to_dict(self) -> dict[str, object]:
        return {
            "started_ns": self.started_ns,
            "finished_ns": self.finished_ns,
            "elapsed_ms": round(self.elapsed_ns / 1e6, 3),
            "clean": self.clean,
            "packages_ms": {p: round(t / 1e6, 3) for p, t in self.package_times().items()},
            "outcomes": [asdict(o) for o in self.outcomes],
        }


def ms(ns: int) -> str:
    """A duration for a log line: "812 ms", "3.1 ms", "2.05 s"."""
    if abs(ns) >= 10_000_000_000:
        return f"{ns / 1e9:.1f} s"
    if abs(ns) >= 1_000_000_000:
        return f"{ns / 1e9:.2f} s"
    return f"{ns / 1e6:.0f} ms" if abs(ns) >= 100_000_000 else f"{ns / 1e6:.1f} ms"


class _Running:
    """One action in progress: its step, advanced by `poll` until it has a result."""

    def __init__(self, index: int, action: StopNowAction) -> None:
        self.index, self.action = index, action
        self.started_ns = time.monotonic_ns()
        self.result: Result | None = None
        try:
            self.step: Step | None = _begin(action)
        except Exception as exc:
            self.step, self.result = None, (False, f"{type(exc).__name__}: {exc}")

    def poll(self) -> bool:
        """Advance the step once; True when it has ended."""
        if self.step is None:
            return True
        try:
            next(self.step)
            return False
        except StopIteration as done:
            self.result = done.value
        except Exception as exc:
            self.result = (False, f"{type(exc).__name__}: {exc}")
        self.step = None
        return True

    def outcome(self, origin_ns: int) -> Outcome:
        ok, detail = self.result or (False, "no result")
        now = time.monotonic_ns()
        a = self.action
        return Outcome(
            a.kind, a.package, a.label, ok, now - self.started_ns, detail, now - origin_ns
        )


def execute(plan: Plan) -> Report:
    """Perform every action as fast as possible, packages side by side; never raises.

    Each package's actions run in plan order. Whenever a package is free, its next
    action starts, the lowest phase first across packages: every process group is
    killed and every address removed before any umount, which may block in the kernel.
    Outcomes come in plan order."""
    started = time.monotonic_ns()
    queues: dict[str, list[tuple[int, StopNowAction]]] = {}
    for index, action in enumerate(plan.actions):
        queues.setdefault(action.package, []).append((index, action))
    for queue in queues.values():
        queue.reverse()  # taken from the end
    busy: dict[str, _Running] = {}
    done: list[tuple[int, Outcome]] = []
    delay = POLL_FIRST
    while queues or busy:
        while free := [p for p in queues if p not in busy]:
            package = min(free, key=lambda p: queues[p][-1][1].phase)
            index, action = queues[package].pop()
            if not queues[package]:
                del queues[package]
            running = _Running(index, action)
            if running.poll():
                done.append((index, running.outcome(started)))
            else:
                busy[package] = running
        progressed = False
        for package, running in list(busy.items()):
            if running.poll():
                del busy[package]
                done.append((running.index, running.outcome(started)))
                progressed = True
        if busy and not progressed:
            time.sleep(delay)
            delay = min(delay * 2, POLL_MAX)
        else:
            delay = POLL_FIRST
    outcomes = tuple(outcome for _, outcome in sorted(done, key=lambda d: d[0]))
    return Report(started, time.monotonic_ns(), outcomes)


def _begin(action: StopNowAction) -> Step:
    if isinstance(action, KillGroup):
        return _instant(_kill_group(action))
    if isinstance(action, DeleteAddress):
        return _instant(_delete_address(action))
    if isinstance(action, Unmount):
        return _unmount(action)
    if isinstance(action, DeactivateVG):
        return _deactivate_vg(action)
    return _ocf_stop(action)


def _instant(result: Result) -> Step:
    return result
    yield  # a generator that never waits


def _kill_group(action: KillGroup) -> Result:
    if not procs.group_is_ours(action.pgid, action.start_time):
        return True, "already gone"
    if not procs.signal_group(action.pgid, signal.SIGKILL):
        return True, "already gone"
    return True, "killed"


def _delete_address(action: DeleteAddress) -> Result:
    removed = netlink.delete_everywhere(action.address)
    if not removed:
        return True, "not present"
    return True, "deleted from " + ", ".join(netlink.interface_name(i) for i in removed)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def umount2(target: str, flags: int) -> int:
    """umount2(2): 0, or the errno."""
    if _libc.umount2(os.fsencode(target), flags) == 0:
        return 0
    return ctypes.get_errno()


def _unmount(action: Unmount) -> Step:
    deadline = time.monotonic() + action.timeout
    mount = procs.mount_at(action.mount_point)
    if mount is None and action.detached_dev:
        return (yield from _release_detached(action, deadline))
    if mount is None:
        return True, "not mounted"
    killed = []
    for pid in procs.users_of(mount.dev):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    # Killed processes release their files as they exit: retry until the bound, then force.
    code = umount2(mount.mount_point, 0)
    while code == errno.EBUSY and time.monotonic() < deadline:
        yield
        code = umount2(mount.mount_point, 0)
    how = "unmounted"
    if code == errno.EBUSY:
        how, code = "forced", umount2(mount.mount_point, MNT_FORCE)
    if code == errno.EBUSY:
        how, code = "detached lazily", umount2(mount.mount_point, MNT_DETACH)
    users = f" after killing {len(killed)} user(s)" if killed else ""
    if code in (errno.EINVAL, errno.ENOENT):
        return True, "not mounted" + users
    if code == 0:
        # A lazy detach hides the mount but the filesystem lives on until its last
        # user exits: not a clean stop.
        return how != "detached lazily", how + users
    return False, f"umount failed: {os.strerror(code)}{users}"


def _release_detached(action: Unmount, deadline: float) -> Step:
    """A filesystem detached lazily lives on until its last user exits: kill them, and
    wait (to the bound) for the kernel to let the device go."""
    killed = []
    for pid in procs.users_of(action.detached_dev):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    users = f" after killing {len(killed)} user(s)" if killed else ""
    while procs.detached_in_use(action.device, action.detached_dev):
        if time.monotonic() >= deadline:
            left = ", ".join(map(str, procs.users_of(action.detached_dev))) or "none seen"
            return False, f"detached lazily and still in use (users: {left}){users}"
        yield
    return True, "released (detached lazily before)" + users


def which(name: str) -> str:
    """The executable `name` on PATH or in the sbin directories (cmcld may run with a
    PATH without them); `name` itself when not found, so the error names it."""
    for directory in (*os.environ.get("PATH", "").split(":"), *SBIN_DIRS):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK):
            return candidate
    return name


def spawn_wait(argv: list[str], env: dict[str, str], timeout: float) -> int | None:
    """Run a command in its own process group with stdio on /dev/null; its exit status,
    or None after a timeout (the group is then killed)."""
    step = _spawned(argv, env, timeout)
    delay = POLL_FIRST
    while True:
        try:
            next(step)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX)


KILL_GRACE = 0.02  # seconds a SIGKILLed child gets to be reaped before it is left behind


def _spawned(argv: list[str], env: dict[str, str], timeout: float) -> Generator[None, None, Any]:
    """A child in its own process group: its exit status, or None after `timeout` (its
    group is then killed; a child stuck in the kernel is left for a later reaping, not
    waited for). No subprocess module: this runs in the guard, at high priority, while
    the node is losing its lease."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
        defaults = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE)
        if _realtime():
            pid = os.posix_spawn(
                argv[0],
                argv,
                env,
                file_actions=actions,
                setpgroup=0,
                setsigdef=defaults,
                scheduler=(os.SCHED_OTHER, os.sched_param(0)),
            )
        else:
            pid = os.posix_spawn(
                argv[0], argv, env, file_actions=actions, setpgroup=0, setsigdef=defaults
            )
    finally:
        os.close(devnull)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            break
        yield
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    grace = time.monotonic() + KILL_GRACE
    while time.monotonic() < grace and os.waitpid(pid, os.WNOHANG)[0] == 0:
        yield
    return None


def _realtime() -> bool:
    """Children of a SCHED_FIFO guard must not inherit its priority."""
    return os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR)


def _base_env() -> dict[str, str]:
    path = os.environ.get("PATH", "") + ":" + ":".join(SBIN_DIRS)
    return {"PATH": path, "LANG": "C", "LVM_SUPPRESS_FD_WARNINGS": "1"}


def _deactivate_vg(action: DeactivateVG) -> Step:
    deadline = time.monotonic() + action.timeout
    vgchange = which("vgchange")
    devices = [arg for d in action.devices for arg in ("--devices", d)]
    argv = [vgchange, *devices, "-a", "n", action.vg]
    code = yield from _spawned(argv, _base_env(), action.timeout)
    if code != 0:
        why = "timed out" if code is None else f"exit {code}"
        return False, f"vgchange -a n {action.vg}: {why}"
    # The tag only says who owns the group; an adoptive node retags it once this
    # node's lease has surely ended, so it gets what is left of the bound.
    left = deadline - time.monotonic()
    if left <= 0:
        return True, f"deactivated; tag {action.node} left (no time)"
    argv = [vgchange, *devices, "--deltag", action.node, action.vg]
    code = yield from _spawned(argv, _base_env(), left)
    return True, "deactivated" if code == 0 else f"deactivated; tag {action.node} left"


def _ocf_stop(action: OcfStop) -> Step:
    env = {**_base_env(), **action.env}
    code = yield from _spawned([action.agent, "stop"], env, action.timeout)
    if code in (0, 7):
        return True, "stopped" if code == 0 else "not running"
    return False, "stop timed out" if code is None else f"stop exit {code}"
