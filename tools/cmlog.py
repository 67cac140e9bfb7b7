"""cmlog: read cmcld's log (or a package's) on this node, filtered by level and time.

  cmlog [-p PKG] [-l LEVEL] [--since WHEN] [-n LINES] [-F]

WHEN is "YYYY-MM-DD HH:MM[:SS]" or an age such as 30s, 10m, 2h, 1d. -F follows the
file as it grows (stop with Ctrl-C), across log rotation.
"""

import datetime as dt
import os
import re
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from cluster.cli.args import PACKAGE_NAME, CmArgumentParser, bounded_int
from cluster.errors import UsageError
from cluster.paths import HostPaths

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)? ([A-Z]+) ")
_AGE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FOLLOW_POLL = 0.25
MAX_LINES = 10_000_000
MAX_AGE_DAYS = 36_500  # --since 100 years ago reaches before any log


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    age = _AGE.match(text.strip())
    if age:
        seconds = int(age.group(1)) * _UNITS[age.group(2)] if len(age.group(1)) <= 12 else None
        if seconds is None or seconds > MAX_AGE_DAYS * 86400:
            raise UsageError(f"--since {text.strip()[:24]!r}: at most {MAX_AGE_DAYS}d ago")
        return now - dt.timedelta(seconds=seconds)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise UsageError(
        f"--since {text.strip()[:24]!r}: expected YYYY-MM-DD HH:MM[:SS] or an age like 10m"
    )


def keep(line: str, min_level: int, since: dt.datetime | None) -> bool:
    """Lines that do not start with a timestamp (continuations) follow their record."""
    match = _LINE.match(line)
    if match is None:
        return min_level <= LEVELS["debug"] and since is None
    if LEVELS.get(match.group(2).lower(), 0) < min_level:
        return False
    return since is None or dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S") >= since


def select(lines: Iterable[str], min_level: int, since: dt.datetime | None) -> Iterator[str]:
    return (line for line in lines if keep(line, min_level, since))


def follow(path: Path, min_level: int, since: dt.datetime | None) -> None:
    handle = path.open(encoding="utf-8", errors="replace")
    handle.seek(0, os.SEEK_END)
    inode = os.fstat(handle.fileno()).st_ino
    while True:
        line = handle.readline()
        if line:
            if keep(line, min_level, since):
                sys.stdout.write(line)
                sys.stdout.flush()
            continue
        time.sleep(FOLLOW_POLL)
        try:
            rotated = path.stat().st_ino != inode
        except FileNotFoundError:
            continue
        if rotated:  # logrotate moved the file: read the new one from its start
            handle.close()
            handle = path.open(encoding="utf-8", errors="replace")
            inode = os.fstat(handle.fileno()).st_ino


def main(argv: list[str], prog: str = "cmlog") -> int:
    parser = CmArgumentParser(prog=prog, description="Read this node's cmcluster logs.")
    parser.add_argument(
        "-p", dest="package", type=PACKAGE_NAME, metavar="PKG", help="a package's log"
    )
    parser.add_argument("-l", dest="level", choices=list(LEVELS), default="debug")
    parser.add_argument("--since", metavar="WHEN", help="from this time or age on")
    parser.add_argument(
        "-n",
        dest="lines",
        type=bounded_int(0, MAX_LINES),
        metavar="LINES",
        help=f"only the last LINES (at most {MAX_LINES:,})",
    )
    parser.add_argument("-F", dest="follow", action="store_true", help="follow the file")
    args = parser.parse_args(argv)
    paths = HostPaths.from_env()
    path = paths.package_log(args.package) if args.package else paths.cmcld_log
    since = parse_since(args.since, dt.datetime.now()) if args.since else None
    min_level = LEVELS[args.level]
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            chosen: Iterable[str] = select(handle, min_level, since)
            if args.lines is not None:
                chosen = deque(chosen, maxlen=args.lines)
            sys.stdout.writelines(chosen)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such log (has cmcld run on this node?)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if args.follow:
        try:
            follow(path, min_level, since)
        except KeyboardInterrupt:
            return 0
    return 0
