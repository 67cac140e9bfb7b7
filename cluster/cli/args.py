"""Argument parsing shared by every command: one-line errors, connection options."""

import argparse
import sys
from typing import NoReturn

from cluster.errors import UsageError


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
