"""The shape of a parameter declaration and of a whole file's schema.

Each parameter is declared once (in params_cluster.py or params_package.py) with its
keyword, type (which carries the unit and range), default, one line of doc and its
place in the file; that one declaration drives the parser, the checks, the templates,
cmgetconf's output and the online-change rules. (Modelled on hashicorp/memberlist's
config.go: every field with its unit, default and meaning in one place.)
"""

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field

from cluster.config.types import Text, Value, ValueType

SUGGESTIONS_KEPT = 4096


@dataclass(frozen=True)
class Param:
    """One keyword of a configuration file.

    A parameter with `children` opens a block: the children that follow it belong to
    it (NODE_NAME then its NETWORK_INTERFACEs; SERVICE_NAME then SERVICE_CMD...).
    `online=False` on a block opener means no block may be added, removed or renamed
    while running; its children then say which of their values may still change.
    """

    keyword: str
    type: ValueType
    doc: str
    default: Value | None = None
    repeatable: bool = False
    required: bool = False
    children: tuple["Param", ...] = ()
    aliases: tuple[str, ...] = ()  # older Serviceguard spellings, read but never written
    module: str = ""  # cmmakepkg module that brings the parameter into a template
    online: bool = True  # may change while the cluster / the package runs (see online.py)
    online_note: str = ""  # why not, for the refusal message
    example: str = ""  # shown (commented) in templates when there is no default
    failover_only: bool = False  # meaningless for multi_node packages
    unique: bool = True  # repeated values must differ
    unsupported: str = ""  # Serviceguard feature we do not implement: "use ... instead"
    ignored: bool = False  # accepted for compatibility with Serviceguard files, then dropped
    quiet: bool = False  # an ignored keyword that needs no warning (pure bookkeeping)

    @property
    def is_block(self) -> bool:
        return bool(self.children)

    def child(self, keyword: str) -> "Param":
        for param in self.children:
            if param.keyword == keyword:
                return param
        raise KeyError(keyword)


def unsupported(keyword: str, reason: str) -> Param:
    """A Serviceguard keyword cmcluster refuses with a reason rather than "unknown"."""
    return Param(keyword, Text(), reason, unsupported=reason)


def ignored(keyword: str, doc: str, quiet: bool = False) -> Param:
    """A Serviceguard keyword that carries no meaning here (module_name, vgchange_cmd...).

    Dropped when read; unless `quiet`, with a warning saying what cmcluster does instead.
    """
    return Param(keyword, Text(), doc, ignored=True, quiet=quiet)


@dataclass(frozen=True)
class Placement:
    """Where a keyword may appear: the chain of block parameters above it."""

    param: Param
    parents: tuple[Param, ...]


@dataclass
class Schema:
    """Every parameter of one kind of file (the cluster file, or a package file)."""

    kind: str  # "cluster" or "package"
    params: tuple[Param, ...]
    keyword_case: str = "upper"  # how cmgetconf writes keywords: "upper" or "lower"
    _index: dict[str, Placement] = field(default_factory=dict, init=False, repr=False)
    _suggested: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        def add(params: tuple[Param, ...], parents: tuple[Param, ...]) -> None:
            for param in params:
                for spelling in (param.keyword, *param.aliases):
                    if spelling in self._index:
                        raise ValueError(f"{spelling} declared twice in the {self.kind} schema")
                    self._index[spelling] = Placement(param, parents)
                add(param.children, (*parents, param))

        add(self.params, ())

    def find(self, keyword: str) -> Placement | None:
        return self._index.get(keyword.upper())

    def walk(self) -> Iterator[Placement]:
        """Every declared parameter once, in declaration order (aliases left out)."""
        seen: set[str] = set()
        for placement in self._index.values():
            if placement.param.keyword not in seen:
                seen.add(placement.param.keyword)
                yield placement

    def suggest(self, keyword: str) -> str | None:
        """The closest declared keyword, for "did you mean ...?".

        Remembered per keyword (up to SUGGESTIONS_KEPT of them): a file repeating one
        unknown keyword 100,000 times would otherwise spend seconds in difflib.
        """
        key = keyword.upper()
        if key in self._suggested:
            return self._suggested[key]
        usable = [p.param.keyword for p in self.walk() if not p.param.unsupported]
        matches = difflib.get_close_matches(key, usable, n=1, cutoff=0.75)
        found = matches[0] if matches else None
        if len(self._suggested) < SUGGESTIONS_KEPT:
            self._suggested[key] = found
        return found

    def spell(self, keyword: str) -> str:
        return keyword.lower() if self.keyword_case == "lower" else keyword.upper()
