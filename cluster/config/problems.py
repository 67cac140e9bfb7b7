"""What is wrong with a configuration, located: `path:line: message`.

Every check reports into a `Problems` collector instead of raising at the first error, so
an operator sees all the mistakes of a file in one run (as cmcheckconf does). Warnings
travel with errors but never make a configuration invalid. A file repeating one mistake
100,000 times must not answer with 100,000 lines: the first MAX_PROBLEMS are kept and
one last line says how many more there were.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cluster.errors import UsageError

MAX_PROBLEMS = 100  # problems shown; the rest are counted in one "... and N more" line
_OMITTED = re.compile(r"^\.\.\. and (\d+) more problems? \((\d+) errors?\) not shown$")


@dataclass(frozen=True, order=True)
class Problem:
    """One finding. `line` 0 means "the file as a whole" (or a default value)."""

    path: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        kind = "warning: " if self.warning else ""
        return f"{where}: {kind}{self.message}" if where else f"{kind}{self.message}"


def omitted_line(problems: int, errors: int) -> Problem:
    """The last line of a capped list: how many problems (errors among them) it left out.

    An error itself when any left out is one, so a list of errors stays one of errors.
    """
    return Problem(
        "",
        0,
        f"... and {problems} more problem{'s' if problems != 1 else ''} "
        f"({errors} error{'s' if errors != 1 else ''}) not shown",
        warning=errors == 0,
    )


def omitted_counts(problem: Problem) -> tuple[int, int] | None:
    """(problems, errors) left out, when `problem` is the line `omitted_line` made
    (it may have come over the wire, where it is only text)."""
    if problem.path or problem.line:
        return None
    match = _OMITTED.match(problem.message)
    return (int(match.group(1)), int(match.group(2))) if match else None


def display_order(problem: Problem) -> tuple[bool, bool, str, int]:
    """Errors first, by file and line; the "... and N more" line last of all."""
    return (omitted_counts(problem) is not None, problem.warning, problem.path, problem.line)


class ConfigError(UsageError):
    """A configuration that cannot be used; carries every problem found, errors first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=display_order))
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid configuration")

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.warning)


class Problems:
    """Collects problems while checks run; `raise_if_errors` ends a phase.

    Keeps at most `limit` errors and `limit` warnings (every problem is still counted,
    so `has_errors` and `error_count` stay true to the input); iterating gives at most
    `limit` problems, errors before warnings when some had to be left out, then one
    line saying how many more there were.
    """

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self._limit = limit
        self._items: list[Problem] = []  # kept, in the order found
        self._seen: set[Problem] = set()
        self._count = 0
        self._errors = 0
        self._kept_errors = 0
        self._kept_warnings = 0

    def error(self, path: str, line: int, message: str) -> None:
        self.add(Problem(path, line, message))

    def warn(self, path: str, line: int, message: str) -> None:
        self.add(Problem(path, line, message, warning=True))

    def add(self, problem: Problem) -> None:
        if problem in self._seen:  # one mistake found by two checks is said once
            return
        self._seen.add(problem)
        self._count += 1
        if problem.warning:
            if self._kept_warnings < self._limit:
                self._kept_warnings += 1
                self._items.append(problem)
            return
        self._errors += 1
        if self._kept_errors < self._limit:
            self._kept_errors += 1
            self._items.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    @property
    def errors(self) -> list[Problem]:
        """The errors kept (at most `limit`)."""
        return [p for p in self._items if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self._items if p.warning]

    @property
    def error_count(self) -> int:
        """Every error found, kept or not: compare it before and after a phase."""
        return self._errors

    def __iter__(self) -> Iterator[Problem]:
        if self._count <= self._limit:
            return iter(self._items)
        room = self._limit - self._kept_errors
        shown = [p for p in self._items if not p.warning]
        shown += [p for p in self._items if p.warning][:room]
        left_errors = self._errors - self._kept_errors
        return iter([*shown, omitted_line(self._count - len(shown), left_errors)])

    def __len__(self) -> int:
        """How many problems iterating gives (the "... and N more" line counts as one)."""
        return min(self._count, self._limit + 1)

    def has_errors(self) -> bool:
        return self._errors > 0

    def raise_if_errors(self) -> None:
        if self.has_errors():
            raise ConfigError(self)
