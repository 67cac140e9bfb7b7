"""Processes, process groups and mounts as /proc shows them: no fuser, no findmnt.

Shared by the drivers (through `asyncio.to_thread`) and by the stop-now path, so it
imports only the standard library's lightest modules. There is no PID namespace on
cluster hosts, so /proc lists every process of the machine.
"""

import contextlib
import errno
import os
import signal
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

PROC = "/proc"


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # "R", "S", "D", "Z", ...
    pgid: int
    start_time: int  # clock ticks after boot: with the PID, names one process for good


def read_stat(pid: int) -> ProcStat | None:
    """The process's /proc/PID/stat fields we use, or None when it does not exist."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields follow the last ")".
    rest = data[data.rfind(b")") + 2 :].split()
    return ProcStat(pid=pid, state=rest[0].decode(), pgid=int(rest[2]), start_time=int(rest[19]))


def pids() -> Iterator[int]:
    for entry in os.listdir(PROC):
        if entry.isdigit():
            yield int(entry)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    stat = read_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Living (non-zombie) processes of a process group."""
    members = []
    for pid in pids():
        stat = read_stat(pid)
        if stat is not None and stat.pgid == pgid and stat.state not in ("Z", "X"):
            members.append(pid)
    return members


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def group_is_ours(pgid: int, leader_start_time: int) -> bool:
    """Whether process group `pgid` is still the one whose leader started at
    `leader_start_time`, so that a stale PGID never kills a stranger.

    The kernel does not reuse a PID while a process group of that number has members,
    so a group without its leader is still ours; a living leader with another start
    time is a new process that reused the number.
    """
    leader = read_stat(pgid)
    if leader is not None and leader.state not in ("Z", "X"):
        return leader.start_time == leader_start_time
    return bool(group_members(pgid))


def wait_gone(pids_or_group: Iterable[int], timeout: float, *, group: bool = False) -> bool:
    """Wait until the processes (or the process groups) have no living member."""
    items = list(pids_or_group)
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        still = group_members if group else alive
        items = [item for item in items if still(item)]
        if not items:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


# -- users of a filesystem ------------------------------------------------------------


def _uses_device(pid: int, dev: int, major_minor: str) -> bool:
    base = f"{PROC}/{pid}"
    for link in ("root", "cwd", "exe"):
        with contextlib.suppress(OSError):
            if os.stat(f"{base}/{link}").st_dev == dev:
                return True
    try:
        with os.scandir(f"{base}/fd") as fds:
            for fd in fds:
                with contextlib.suppress(OSError):
                    if os.stat(fd.path).st_dev == dev:
                        return True
    except OSError:
        pass
    try:
        with open(f"{base}/maps", "rb") as f:
            for line in f:
                fields = line.split(maxsplit=5)
                if len(fields) >= 5 and fields[3].decode() == major_minor and fields[4] != b"0":
                    return True
    except OSError:
        pass
    return False


def users_of(dev: int) -> list[int]:
    """Processes with a file, directory, root, executable or mapping on device `dev`
    (st_dev of the mounted filesystem): what fuser -m would list."""
    major_minor = f"{os.major(dev):02x}:{os.minor(dev):02x}"
    me = os.getpid()
    return [pid for pid in pids() if pid not in (me, 1) and _uses_device(pid, dev, major_minor)]


def kill_users(dev: int, grace: float) -> list[int]:
    """SIGTERM the users of `dev`, wait up to `grace` seconds, SIGKILL the rest.

    Returns the PIDs still alive afterwards (unkillable, e.g. in uninterruptible IO).
    """
    users = users_of(dev)
    if not users:
        return []
    if grace > 0:
        for pid in users:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if wait_gone(users, grace):
            return []
    for pid in [*users, *users_of(dev)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_gone(users, 1.0)
    return [pid for pid in users_of(dev) if alive(pid)]


def block_device_held(device: str) -> bool:
    """Whether the kernel still holds block device `device`: mounted in any mount
    namespace, or detached lazily and still in use (an exclusive open fails with
    EBUSY). A device that no longer exists is not held."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return True
        if exc.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
            return False
        raise
    os.close(fd)
    return False


def detached_in_use(device: str, dev: int) -> bool:
    """Whether a filesystem detached lazily (umount -l) lives on: for a block device,
    the kernel's word (it still holds the device); for anything else (NFS, tmpfs),
    whether a process still uses files of `dev`, its st_dev."""
    try:
        block = stat.S_ISBLK(os.stat(device).st_mode)
    except OSError:
        block = False
    if block:
        return block_device_held(device)
    return bool(users_of(dev))


# -- mounts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    mount_point: str
    dev: int  # st_dev of the mounted filesystem
    fs_type: str
    source: str
    options: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts() -> list[Mount]:
    """This process's mount namespace, in mount order."""
    found = []
    with open(f"{PROC}/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            major, minor = (int(x) for x in fields[2].split(":"))
            found.append(
                Mount(
                    mount_point=_unescape(fields[4]),
                    dev=os.makedev(major, minor),
                    fs_type=tail[0],
                    source=_unescape(tail[1]) if len(tail) > 1 else "",
                    options=fields[5],
                )
            )
    return found


def mount_at(mount_point: str) -> Mount | None:
    """The topmost mount on `mount_point` (a normalised absolute path), if any."""
    path = os.path.normpath(mount_point)
    on_it = [m for m in mounts() if m.mount_point == path]
    return on_it[-1] if on_it else None
