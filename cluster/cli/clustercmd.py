"""What cmruncl, cmhaltcl, cmrunnode and cmhaltnode share: follow the progress of a
cluster command and end with one line and an exit status."""

from collections.abc import Iterator

from cluster.cli.confcommon import follow
from cluster.transport.client import Outcome


def finish(prog: str, progress: Iterator[str | Outcome], success: str) -> int:
    outcome = follow(progress)
    if not outcome.ok:
        print(f"{prog}: {outcome.message}")
        return 1
    print(f"{prog}: {success}")
    return 0
