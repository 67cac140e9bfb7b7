"""The located entry tree: what a file says, typed, before it becomes a model.

Parsing produces a `Document` of `Entry`s: canonical keyword, typed value, line, and the
children of block keywords. The same tree is what the binary configuration stores
(protobuf `ConfigEntry`) and what cmgetconf writes back, so nothing can be lost between
the three. `normalize` fills in defaults and puts entries in declaration order, which
makes the compiled bytes independent of how the operator ordered the file and pins the
defaults in force when the configuration was applied.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cluster.config.schema import Param
from cluster.config.types import Value


@dataclass(frozen=True)
class Entry:
    """One `KEYWORD value` line and, for a block keyword, the lines it owns."""

    keyword: str
    value: Value
    line: int = field(default=0, compare=False)
    children: tuple["Entry", ...] = ()
    source: str = field(default="", compare=False)  # another file than the document's

    def all(self, keyword: str) -> list["Entry"]:
        return [e for e in self.children if e.keyword == keyword]

    def first(self, keyword: str) -> "Entry | None":
        for entry in self.children:
            if entry.keyword == keyword:
                return entry
        return None


@dataclass(frozen=True)
class Document:
    """A parsed file: its kind ("cluster" or "package"), where it came from, its entries."""

    kind: str
    path: str = field(compare=False)
    entries: tuple[Entry, ...]

    def all(self, keyword: str) -> list[Entry]:
        return [e for e in self.entries if e.keyword == keyword]

    def first(self, keyword: str) -> Entry | None:
        for entry in self.entries:
            if entry.keyword == keyword:
                return entry
        return None

    def as_entry(self) -> Entry:
        """The document as one block, so code can treat the top level like any block."""
        return Entry("", "", 0, self.entries)


def walk(entries: tuple[Entry, ...]) -> Iterator[Entry]:
    for entry in entries:
        yield entry
        yield from walk(entry.children)


Skip = Callable[[Param], bool]


def _bare(entry: Entry) -> Entry:
    return Entry(entry.keyword, entry.value, entry.line, (), entry.source)


def normalize(
    entries: tuple[Entry, ...], params: tuple[Param, ...], skip: Skip
) -> tuple[Entry, ...]:
    """Entries in declaration order with every defaulted parameter present.

    Repeated keywords keep the operator's order (NODE_NAME order is a preference).
    Parameters for which `skip` is true get no default (failover-only parameters of a
    multi_node package); ignored and unsupported keywords never reach the tree.
    """
    by_keyword: dict[str, list[Entry]] = {}  # one pass, not one per parameter
    for entry in entries:
        by_keyword.setdefault(entry.keyword, []).append(entry)
    out: list[Entry] = []
    for param in params:
        if param.unsupported or param.ignored:
            continue
        given = by_keyword.get(param.keyword)
        if given:
            if not param.children:
                out.extend(entry if not entry.children else _bare(entry) for entry in given)
                continue
            for entry in given:
                children = normalize(entry.children, param.children, skip)
                out.append(Entry(entry.keyword, entry.value, entry.line, children, entry.source))
        elif param.default is not None and not param.repeatable and not skip(param):
            out.append(Entry(param.keyword, param.default, 0))
    return tuple(out)
