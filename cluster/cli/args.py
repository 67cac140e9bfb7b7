"""Argument parsing shared by every command: one-line errors, connection options."""

import argparse
import math
import re
import sys
from collections.abc import Callable
from typing import NoReturn

from cluster.errors import UsageError
from cluster.names import node_name_problem, object_name_problem

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_SHOWN = 24  # characters of a bad value quoted back


def _shown(text: str) -> str:
    """A bad value as quoted in a message: short, control characters escaped."""
    cut = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return cut if cut.isprintable() and cut.strip() == cut and cut else repr(cut)


def bounded_int(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse `type` for a whole number in lo..hi.

    Python's int has no limit, but what it feeds (dates, deques, C calls) does: an
    unbounded option ended in "internal error: OverflowError". Only ASCII digits are
    taken (int() would also take "1_000" and other scripts' digits).
    """

    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text.strip()):
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number")
        digits = text.strip().lstrip("+-").lstrip("0")
        # Many digits are out of range whatever they say, and int() of 5,000 digits fails.
        value = int(text) if len(digits) <= len(str(max(abs(lo), abs(hi)))) else None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is out of range {lo}..{hi}")
        return value

    parse.__name__ = "number"  # argparse names the type in some messages
    return parse


def bounded_float(lo: float, hi: float) -> Callable[[str], float]:
    """An argparse `type` for a decimal number in lo..hi (1.5, 2e-3; never inf or nan)."""

    def parse(text: str) -> float:
        if not _DECIMAL.fullmatch(text.strip()):
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number")
        value = float(text)
        if not math.isfinite(value) or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is out of range {lo:g}..{hi:g}")
        return value

    parse.__name__ = "number"
    return parse


class CmArgumentParser(argparse.ArgumentParser):
    """argparse with Serviceguard-style terse errors: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "connection", "not needed as root on a cluster node, which talks to its own cmcld"
    )
    group.add_argument(
        "--cert",
        metavar="FILE",
        help="user certificate, or the bundle made by cmcert issue (default: $CMCLUSTER_CERT)",
    )
    group.add_argument(
        "--key", metavar="FILE", help="its private key, if not in --cert (default: $CMCLUSTER_KEY)"
    )
    group.add_argument(
        "--ca",
        metavar="FILE",
        help="cluster CA certificate, if not in --cert (default: $CMCLUSTER_CA)",
    )
    group.add_argument(
        "--server",
        metavar="HOST[:PORT]",
        help="the node whose cmcld to ask (default: $CMCLUSTER_SERVER, else this host)",
    )


def _named(problem: Callable[[str], str | None]) -> Callable[[str], str]:
    def check(text: str) -> str:
        why = problem(text)
        if why:
            raise argparse.ArgumentTypeError(why)
        return text

    return check


# argparse types: a name refused by the one name validator is one line naming the
# option ("argument -n: invalid node name 'n1\\n': ..."), before anything is asked.
NODE_NAME = _named(node_name_problem)
PACKAGE_NAME = _named(object_name_problem)


def add_nodes_option(parser: argparse.ArgumentParser, help: str) -> None:
    """Serviceguard's `-n NODE`, repeatable, each name checked by the validator."""
    parser.add_argument(
        "-n", dest="nodes", action="append", default=[], type=NODE_NAME, metavar="NODE", help=help
    )


def add_config_file_options(parser: argparse.ArgumentParser, whose: str = "") -> None:
    """-C CLUSTER.ascii and -P PKG.conf (repeatable): cmcheckconf, cmapplyconf, cmeval."""
    parser.add_argument("-C", dest="cluster", metavar="FILE", help=f"the cluster file{whose}")
    parser.add_argument(
        "-P",
        dest="packages",
        action="append",
        default=[],
        metavar="FILE",
        help=f"a package file{whose} (repeat)",
    )
