"""The stop-now plan: what must be undone at once when this node loses its lease.

A plan is an ordered list of small serializable actions. cmcld saves it (atomically,
0600) whenever a resource becomes active or inactive; the guard loads it and, when
the lease deadline passes without renewal, executes it with `execute`, which never
raises, continues past failures and reports each action's outcome and duration.

Order, whatever the start order was: kill process groups (services, running scripts)
-> delete floating IPs (clients stop reaching this node) -> OCF agents' stop with a
short timeout -> kill the users of each filesystem and unmount it (forced, then lazy)
-> deactivate volume groups. Every action is idempotent ("already gone" is success),
so cmcld and the guard may both execute a plan.

Only the standard library's lightest modules are imported (no asyncio, no subprocess):
the guard must start and act fast, and a child is spawned only for LVM and OCF.
"""

import contextlib
import ctypes
import errno
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, TypeAlias

from cluster.atomicfile import write_atomic
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
    timeout: float = 2.0


@dataclass(frozen=True)
class Unmount:
    """SIGKILL the users of a mounted filesystem, then unmount it, forcing and at last
    detaching lazily when it stays busy."""

    kind: ClassVar[str] = "unmount"
    phase: ClassVar[int] = 3
    package: str
    label: str
    mount_point: str
    device: str


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
    timeout: float = 3.0


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


# -- execution --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str
    package: str
    label: str
    ok: bool
    elapsed_ns: int
    detail: str = ""


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

    def to_dict(self) -> dict[str, object]:
        return {
            "started_ns": self.started_ns,
            "finished_ns": self.finished_ns,
            "elapsed_ms": round(self.elapsed_ns / 1e6, 3),
            "clean": self.clean,
            "outcomes": [asdict(o) for o in self.outcomes],
        }


def execute(plan: Plan) -> Report:
    """Perform every action as fast as possible; never raises."""
    started = time.monotonic_ns()
    outcomes = []
    for action in plan.actions:
        t0 = time.monotonic_ns()
        try:
            ok, detail = _perform(action)
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        outcomes.append(
            Outcome(action.kind, action.package, action.label, ok, time.monotonic_ns() - t0, detail)
        )
    return Report(started, time.monotonic_ns(), tuple(outcomes))


def _perform(action: StopNowAction) -> tuple[bool, str]:
    if isinstance(action, KillGroup):
        return _kill_group(action)
    if isinstance(action, DeleteAddress):
        return _delete_address(action)
    if isinstance(action, Unmount):
        return _unmount(action)
    if isinstance(action, DeactivateVG):
        return _deactivate_vg(action)
    return _ocf_stop(action)


def _kill_group(action: KillGroup) -> tuple[bool, str]:
    if not procs.group_is_ours(action.pgid, action.start_time):
        return True, "already gone"
    if not procs.signal_group(action.pgid, signal.SIGKILL):
        return True, "already gone"
    return True, "killed"


def _delete_address(action: DeleteAddress) -> tuple[bool, str]:
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


def _unmount(action: Unmount) -> tuple[bool, str]:
    mount = procs.mount_at(action.mount_point)
    if mount is None:
        return True, "not mounted"
    killed = []
    for pid in procs.users_of(mount.dev):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    # Killed processes release their files as they exit: retry briefly, then force.
    deadline = time.monotonic() + 0.5
    code = umount2(mount.mount_point, 0)
    while code == errno.EBUSY and time.monotonic() < deadline:
        time.sleep(0.005)
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
    or None after a timeout (the group is then killed). No subprocess module: this runs
    in the guard, at high priority, while the node is losing its lease."""
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
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _realtime() -> bool:
    """Children of a SCHED_FIFO guard must not inherit its priority."""
    return os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR)


def _base_env() -> dict[str, str]:
    path = os.environ.get("PATH", "") + ":" + ":".join(SBIN_DIRS)
    return {"PATH": path, "LANG": "C", "LVM_SUPPRESS_FD_WARNINGS": "1"}


def _deactivate_vg(action: DeactivateVG) -> tuple[bool, str]:
    vgchange = which("vgchange")
    devices = [arg for d in action.devices for arg in ("--devices", d)]
    code = spawn_wait([vgchange, *devices, "-a", "n", action.vg], _base_env(), action.timeout)
    if code != 0:
        why = "timed out" if code is None else f"exit {code}"
        return False, f"vgchange -a n {action.vg}: {why}"
    spawn_wait(
        [vgchange, *devices, "--deltag", action.node, action.vg], _base_env(), action.timeout
    )
    return True, "deactivated"


def _ocf_stop(action: OcfStop) -> tuple[bool, str]:
    env = {**_base_env(), **action.env}
    code = spawn_wait([action.agent, "stop"], env, action.timeout)
    if code in (0, 7):
        return True, "stopped" if code == 0 else "not running"
    return False, "stop timed out" if code is None else f"stop exit {code}"
