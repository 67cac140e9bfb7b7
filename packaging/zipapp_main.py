"""Where the zipapp unpacks: chosen before shiv's bootstrap runs (module _cmcluster_main).

shiv unpacks the zipapp's packages on first run into $SHIV_ROOT, by default ~/.shiv,
and fails with a traceback when that cannot be written (a user whose HOME is not
writable, or does not exist). Unless SHIV_ROOT is set, `prepare` picks:

1. PREFIX/lib/cmcluster, where `cmcluster.pyz install --prefix PREFIX` unpacked this
   build once for every user, when it holds this build and only its owner (root or
   this user) can write it;
2. ~/.shiv, shiv's own choice, when it holds this build or can be written;
3. $XDG_RUNTIME_DIR/cmcluster, when that is this user's private directory;
4. /tmp/cmcluster-UID, made 0700 and checked to be this user's own private directory
   (never one another user prepared: its code would run as this user);

else it says in one line what to do. packaging/replace-main.py puts this module in the
zipapp (with a compiled copy: it runs before every command) and a __main__.py that
calls `prepare` and then shiv's bootstrap. Standard library only, a few system calls.
"""

import contextlib
import os
import stat
import sys

BUILD_ID = ""  # filled in by packaging/replace-main.py at build time
CHOSEN = ""  # the SHIV_ROOT __main__ set; cluster.cli.main drops it from the environment


def _private_dir(path: str, uid: int) -> bool:
    """A real directory (not a link) owned by `uid` that nobody else may enter."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o077


def _unpacked(root: str, name: str) -> str:
    return os.path.join(root, f"{name}_{BUILD_ID}", "site-packages")


def _trusted(path: str, uid: int) -> bool:
    """Owned by root or by this user, and writable by nobody else."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_uid in (0, uid) and not info.st_mode & 0o022


def _writable(root: str) -> bool:
    """Whether shiv could create `root` (and its content) or write into it."""
    probe = root
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            return False
        probe = parent
    return os.path.isdir(probe) and os.access(probe, os.W_OK | os.X_OK)


def choose_root(argv0: str, environ: dict[str, str], uid: int) -> tuple[str | None, str]:
    """(SHIV_ROOT to set or None for shiv's default, why nothing fits or "")."""
    real = os.path.realpath(argv0)
    name = os.path.basename(real)
    installed = os.path.join(os.path.dirname(os.path.dirname(real)), "lib", "cmcluster")
    unpacked = _unpacked(installed, name)
    if os.path.isdir(unpacked) and all(
        _trusted(p, uid) for p in (installed, os.path.dirname(unpacked), unpacked)
    ):
        return installed, ""
    home = os.path.expanduser("~")
    default = os.path.join(home, ".shiv")
    if home != "~" and (os.path.isdir(_unpacked(default, name)) or _writable(default)):
        return None, ""
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and _private_dir(runtime, uid):
        return os.path.join(runtime, "cmcluster"), ""
    tmp = os.path.join(environ.get("TMPDIR") or "/tmp", f"cmcluster-{uid}")
    with contextlib.suppress(OSError):  # there already (checked below), or cannot be made
        os.mkdir(tmp, 0o700)
    if _private_dir(tmp, uid):
        return tmp, ""
    return None, (
        f"cannot unpack: {default} cannot be written (HOME={home}) and {tmp} is not a "
        "private directory of this user; set SHIV_ROOT to a directory you own, or have "
        "root run `cmcluster.pyz install --prefix DIR`, which unpacks it for every user"
    )


def prepare() -> str:
    """Set SHIV_ROOT when shiv's default will not do; returns what it set, or ""."""
    if os.environ.get("SHIV_ROOT"):
        return ""
    root, problem = choose_root(sys.argv[0], dict(os.environ), os.geteuid())
    if problem:
        sys.stderr.write(f"{os.path.basename(sys.argv[0])}: {problem}\n")
        sys.exit(1)
    if root is None:
        return ""
    os.environ["SHIV_ROOT"] = root
    return root
