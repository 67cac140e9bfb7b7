"""Crash-safe file replacement: write a temporary file, fsync, rename, fsync the directory.

Used for everything whose loss or half-written state would hurt: private keys, the
binary configuration, Paxos promises. A reader sees the old content or the new, never
a mix, and a file is never visible with wider permissions than `mode`.
"""

import os
from pathlib import Path

from cluster.errors import UsageError


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data`; raises OSError (with the path) on failure."""
    directory = path.parent
    tmp = directory / f".{path.name}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow what we asked for
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_file(path: Path, data: bytes, mode: int) -> None:
    """`write_atomic`, creating missing directories (0700), for files an operator asked
    for: a failure becomes one UsageError naming the path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, data, mode)
    except OSError as exc:
        where = exc.filename or path
        raise UsageError(f"{where}: cannot write: {exc.strerror or exc}") from None
