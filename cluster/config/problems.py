"""What is wrong with a configuration, located: `path:line: message`.

Every check reports into a `Problems` collector instead of raising at the first error, so
an operator sees all the mistakes of a file in one run (as cmcheckconf does). Warnings
travel with errors but never make a configuration invalid.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cluster.errors import UsageError


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


class ConfigError(UsageError):
    """A configuration that cannot be used; carries every problem found, errors first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.warning, p.path, p.line)))
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid configuration")

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.warning)


class Problems:
    """Collects problems while checks run; `raise_if_errors` ends a phase."""

    def __init__(self) -> None:
        self._items: list[Problem] = []
        self._seen: set[Problem] = set()

    def error(self, path: str, line: int, message: str) -> None:
        self.add(Problem(path, line, message))

    def warn(self, path: str, line: int, message: str) -> None:
        self.add(Problem(path, line, message, warning=True))

    def add(self, problem: Problem) -> None:
        if problem not in self._seen:  # one mistake found by two checks is said once
            self._seen.add(problem)
            self._items.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self._items if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self._items if p.warning]

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def has_errors(self) -> bool:
        return any(not p.warning for p in self._items)

    def raise_if_errors(self) -> None:
        if self.has_errors():
            raise ConfigError(self._items)
