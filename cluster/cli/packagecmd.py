"""What cmrunpkg, cmhaltpkg and cmmodpkg share: names checked before anything is asked,
one command per package with its progress printed as it arrives, and Serviceguard's
last line.

gRPC is imported only when a command runs, so usage errors stay instant.
"""

import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from cluster.errors import UsageError
from cluster.names import node_name_problem, object_name_problem

if TYPE_CHECKING:
    from cluster.transport.client import Outcome

Command = Callable[[str], "Iterator[str | Outcome]"]
COMPLETED = "Completed successfully on all packages specified."


def checked_names(packages: Sequence[str], nodes: Sequence[str]) -> list[str]:
    """The packages in order, each once; UsageError (exit 2) for a bad name."""
    for node in nodes:
        problem = node_name_problem(node)
        if problem:
            raise UsageError(f"-n: {problem}")
    for package in packages:
        problem = object_name_problem(package)
        if problem:
            raise UsageError(problem)
    return list(dict.fromkeys(packages))


def each_package(
    prog: str, packages: Sequence[str], command: Command, failed_to: str, verbose: bool
) -> int:
    """Run `command` for every package even when one fails, printing its progress; one
    line for each failure ("Unable to <failed_to> PKG: why") and exit status 1, else
    Serviceguard's "Completed successfully" line and 0."""
    from cluster.cli.confcommon import follow

    failed = 0
    for package in packages:
        outcome = follow(command(package))
        if outcome.ok:
            if verbose:
                print(f"{prog}: {outcome.message}", flush=True)
            continue
        failed += 1
        print(f"{prog}: Unable to {failed_to} {package}: {outcome.message}", file=sys.stderr)
    if failed:
        return 1
    print(f"{prog}: {COMPLETED}")
    return 0


def one_after_another(
    steps: Sequence[Callable[[], "Iterator[str | Outcome]"]],
) -> "Iterator[str | Outcome]":
    """Several calls as one command: each runs after the previous one succeeded; the
    outcome is the first failure's, else the last call's."""
    from cluster.transport.client import Outcome

    outcome: Outcome | None = None
    for step in steps:
        for item in step():
            if isinstance(item, Outcome):
                outcome = item
                break
            yield item
        if outcome is None or not outcome.ok:
            break
    if outcome is not None:
        yield outcome
