"""cmcld's logging: its own file, syslog where /dev/log exists, stderr on a terminal.

The file is opened with WatchedFileHandler so logrotate can move it without a restart.
"""

import logging
import logging.handlers
import sys
from pathlib import Path

from cluster.errors import FieldError

LEVELS = {
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
SYSLOG_SOCKET = Path("/dev/log")


def parse_level(text: str) -> int:
    try:
        return LEVELS[text.strip().lower()]
    except KeyError:
        raise FieldError(
            "level", f"unknown log level {text!r} (choose from {', '.join(LEVELS)})"
        ) from None


def level_name(level: int) -> str:
    return next((name for name, value in LEVELS.items() if value == level), str(level))


def setup_logging(
    *, program: str, node: str, log_file: Path, level: int, syslog: bool
) -> logging.Logger:
    """Configure the root logger for a daemon; returns the program's logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(level)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.WatchedFileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s.%(msecs)03d %(levelname)s {node} {program}[%(process)d]: %(message)s",
            datefmt="%Y-%m-%d %H:%M:%S",
        )
    )
    root.addHandler(file_handler)
    if syslog and SYSLOG_SOCKET.exists():
        try:
            sys_handler = logging.handlers.SysLogHandler(
                address=str(SYSLOG_SOCKET), facility=logging.handlers.SysLogHandler.LOG_DAEMON
            )
        except OSError:
            pass  # no syslog daemon listening: the file is enough
        else:
            sys_handler.setFormatter(logging.Formatter(f"{program}[%(process)d]: %(message)s"))
            root.addHandler(sys_handler)
    if sys.stderr.isatty():
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(f"{program}: %(levelname)s: %(message)s"))
        root.addHandler(console)
    return logging.getLogger(program)
