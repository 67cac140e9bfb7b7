"""Entry trees back to ASCII: what cmgetconf writes.

The output is a file the operator can edit and apply again: every parameter in force
(defaults included, so nothing depends on the version that reads it back), each
keyword preceded the first time by its one line of documentation. Parsing the output
gives back the same entries (tests/unit/config checks the round trip).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from cluster.config.lexer import quote
from cluster.config.model import Cluster, Package
from cluster.config.params_cluster import CLUSTER_SCHEMA
from cluster.config.params_package import PACKAGE_SCHEMA
from cluster.config.schema import Param, Schema
from cluster.config.tree import Document, Entry

COLUMN = 32
INDENT = "    "


def render_cluster(cluster: Cluster, header: Sequence[str] = (), comments: bool = True) -> str:
    return render_document(cluster.document, CLUSTER_SCHEMA, header, comments)


def render_package(package: Package, header: Sequence[str] = (), comments: bool = True) -> str:
    return render_document(package.document, PACKAGE_SCHEMA, header, comments)


def render_document(
    document: Document, schema: Schema, header: Sequence[str] = (), comments: bool = True
) -> str:
    lines = [f"# {h}" if h else "#" for h in header]
    _render(document.entries, schema.params, schema, 0, _Out(lines, set(), comments))
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n"


def line(schema: Schema, param: Param, value: str, depth: int, commented: bool = False) -> str:
    """One `keyword value` line, aligned; `commented` for template examples."""
    keyword = schema.spell(param.keyword)
    indent = INDENT * depth
    mark = "#" if commented else ""
    text = f"{mark}{indent}{keyword}"
    if not value:
        return text
    return f"{text:<{COLUMN - 1}} {value}"


def value_text(param: Param, entry: Entry) -> str:
    return quote(param.type.render(entry.value))


def _render(
    entries: tuple[Entry, ...],
    params: tuple[Param, ...],
    schema: Schema,
    depth: int,
    out: "_Out",
) -> None:
    by_keyword = {p.keyword: p for p in params}
    for entry in entries:
        param = by_keyword[entry.keyword]
        lines = out.lines
        if param.is_block and depth == 0:
            lines.append("")
        if out.comments and param.keyword not in out.documented:
            out.documented.add(param.keyword)
            if not (param.is_block and depth == 0):
                lines.append("")
            lines.append(f"# {INDENT * depth}{schema.spell(param.keyword)}: {param.doc}")
        lines.append(line(schema, param, value_text(param, entry), depth))
        if entry.children:
            _render(entry.children, param.children, schema, depth + 1, out)


@dataclass
class _Out:
    lines: list[str]
    documented: set[str]  # keywords whose doc line is already written
    comments: bool
