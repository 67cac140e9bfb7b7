"""Reading this host's files defensively, and keeping cmcluster's own files private.

A path an operator gives (`cmcheckconf -P /dev/zero`) or a file left in the way must
not make a command or cmcld read until memory runs out, nor block on a FIFO: files
are read only when they are regular and no larger than the caller's limit. The binary
configuration and the state files hold the whole cluster's configuration and the Paxos
promises: they are written 0600, and ones left readable by an older version are
made private at start.
"""

import os
import pwd
import stat
from pathlib import Path

MIB = 1024 * 1024
MAX_CONFIG_FILE = 16 * MIB  # a cluster or package file, a control script
MAX_BINARY_CONFIG = 64 * MIB  # cmclconfig: never more than a request cmcld accepts
MAX_STATE_FILE = 16 * MIB  # Paxos promises, flags: a few KiB in practice
PRIVATE = 0o600

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


class RefusedFile(Exception):
    """A file that is not read: not a regular file, or larger than allowed."""


def read_regular(path: Path | str, limit: int) -> bytes:
    """The content of `path`, a regular file of at most `limit` bytes.

    Raises RefusedFile (the reason, without the path) or OSError. Opened without
    blocking, so a FIFO is refused instead of waited on; the limit is checked on the
    open file and again while reading, for files that grow or lie about their size
    (/proc).
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise RefusedFile(f"not a regular file ({kind})")
        if info.st_size > limit:
            raise RefusedFile(_too_big(info.st_size, limit))
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(MIB, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise RefusedFile(_too_big(size, limit, more=True))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_big(size: int, limit: int, more: bool = False) -> str:
    shown = f"more than {limit // MIB} MiB" if more else f"{size / MIB:.1f} MiB"
    return f"{shown}: larger than the {limit // MIB} MiB allowed"


def make_private(path: Path) -> int | None:
    """Take group and others' access away from an existing file (or directory).

    Returns the mode it had when it was changed, None when it was private already
    or does not exist. Symbolic links are left alone (their target is not ours).
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
        return None
    mode = stat.S_IMODE(info.st_mode)
    path.chmod(mode & 0o700)
    return mode


def make_private_tree(directory: Path) -> list[tuple[Path, int]]:
    """`make_private` on a directory and everything under it: [(path, old mode)]."""
    changed: list[tuple[Path, int]] = []
    if not directory.is_dir():
        return changed
    for path in (directory, *sorted(directory.rglob("*"))):
        old = make_private(path)
        if old is not None:
            changed.append((path, old))
    return changed


def exposed_key_problem(path: Path, program: str) -> str | None:
    """Why `program` (running as this process's user) must not use the private key at
    `path` as it is, with the commands that fix it; None when the key is private.

    A key that others can read is no longer a secret, and one that another user owns
    can be replaced by them: either way it identifies someone else as this host.
    """
    info = path.stat()
    uid = os.geteuid()
    user = _user_name(uid)
    wrong = []
    if info.st_mode & 0o077:
        wrong.append(f"open to group or others (mode {stat.S_IMODE(info.st_mode):04o})")
    if info.st_uid != uid:
        wrong.append(f"owned by {_user_name(info.st_uid)}, not {user} who runs {program}")
    if not wrong:
        return None
    return (
        f"{path}: private key {' and '.join(wrong)}: run `chmod 600 {path}; "
        f"chown {user} {path}` and start {program} again"
    )


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
