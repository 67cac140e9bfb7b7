"""One cmcld per host root: an exclusive lock on the pid file, held for the daemon's life.

A second daemon would unlink the first one's admin socket and fight over the port; the
lock refuses it before it touches anything. The kernel drops the lock when the process
dies, so a crash never leaves a stale lock behind.
"""

import fcntl
import os
from pathlib import Path

from cluster.errors import CmError


class PidLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, what: str) -> None:
        """Take the lock as `what` (the program's name, kept in the file after the pid:
        cmtakeover holds cmcld's lock while it runs a package without the cluster)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, holder = os.read(fd, 64).decode(errors="replace").strip().partition(" ")
            os.close(fd)
            raise CmError(
                f"{holder or what} is running already (pid {pid or 'unknown'}, lock {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {what}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def lock_holder(path: Path) -> tuple[int, str] | None:
    """(pid, program) of the process holding the lock at `path`, None when nobody
    holds it (a crashed daemon's file is not held: the kernel dropped its lock)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, program = os.read(fd, 64).decode(errors="replace").strip().partition(" ")
            return (int(pid), program) if pid.isdigit() else None
        return None
    finally:
        os.close(fd)
