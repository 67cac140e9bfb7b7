"""What the configuration commands share: reading the operator's files, printing
problems and progress, asking for confirmation."""

import sys
from collections.abc import Iterable, Iterator, Sequence

from cluster.config.problems import Problem, omitted_counts
from cluster.config.source import read_package_source, read_source, to_pb
from cluster.errors import CmError
from cluster.pb.v1 import config_pb2
from cluster.transport.client import Outcome


def sources_request(cluster: str | None, packages: Sequence[str]) -> config_pb2.CheckConfigRequest:
    """The files as text (read here, on the operator's host, strictly as UTF-8); a
    legacy package brings the control script its RUN_SCRIPT names."""
    request = config_pb2.CheckConfigRequest()
    if cluster is not None:
        request.cluster.CopyFrom(to_pb(read_source(cluster)))
    request.packages.extend(to_pb(read_package_source(p)) for p in packages)
    return request


def print_problems(problems: Iterable[Problem]) -> int:
    """Print problems, errors first; returns the number of errors, those left out of a
    long list ("... and N more") included."""
    errors = 0
    for problem in problems:
        omitted = omitted_counts(problem)
        if omitted is not None:
            errors += omitted[1]
        else:
            errors += not problem.warning
        print(problem, file=sys.stderr)
    return errors


def follow(progress: Iterator[str | Outcome], shown: Iterable[Problem] = ()) -> Outcome:
    """Print progress lines (except problems printed already) and return the outcome."""
    skip = {str(p) for p in shown}
    for item in progress:
        if isinstance(item, Outcome):
            return item
        if item not in skip:
            print(item, flush=True)
    raise CmError("the operation ended without a result")


def confirm(question: str, force: bool) -> None:
    """Ask on a terminal unless -f; without a terminal, -f is required for changes
    that cannot be undone (as scripts should say what they mean)."""
    if force:
        return
    if not sys.stdin.isatty():
        raise CmError(f"{question} needs confirmation: run it with -f")
    answer = input(f"{question} ([y]/n)? ").strip().lower()
    if answer not in ("", "y", "yes"):
        raise CmError("not confirmed; nothing was changed")
