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


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)}
_CONTROL.update({ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"})


class OneLine(logging.Filter):
    """Values interpolated into a message (names, paths, errors: often a caller's input)
    are written with their control characters escaped, so one record is one line and
    nobody forges a log line with a newline; the message text itself, written by
    cmcluster, may still span lines (the SIGUSR1 task dump)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_one_line(a) for a in record.args)
        return True


def _one_line(value: object) -> object:
    if isinstance(value, str):
        return value.translate(_CONTROL)
    if isinstance(value, BaseException):
        return str(value).translate(_CONTROL)
    return value


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
    file_handler.addFilter(OneLine())
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
            sys_handler.addFilter(OneLine())
            root.addHandler(sys_handler)
    if sys.stderr.isatty():
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(f"{program}: %(levelname)s: %(message)s"))
        root.addHandler(console)
    return logging.getLogger(program)
