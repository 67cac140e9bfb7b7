"""ASCII configuration text into a located, typed, normalized entry tree.

Keywords are case-insensitive (modular package files are usually lower case, cluster and
legacy files upper case). A block keyword owns the keywords that follow it until a
keyword of an outer level appears: `NODE_NAME a` then `NETWORK_INTERFACE eth0` then
`HEARTBEAT_IP ...` builds node a's first interface. Every problem is reported with its
line, and parsing goes on so that one run shows them all.
"""

from dataclasses import dataclass, field

from cluster.config.lexer import Token, tokens
from cluster.config.problems import Problems
from cluster.config.schema import Param, Schema
from cluster.config.tree import Document, Entry, Skip, normalize
from cluster.config.types import Value


@dataclass(slots=True)
class Draft:
    """An entry being built: its parameter (None at the top), value, line, children.

    Entries whose own value was bad stay in the draft (marked invalid) so that their
    absence causes no second, confusing "missing" error, and are dropped by `freeze`.
    """

    param: Param | None
    keyword: str = ""
    value: Value = ""
    line: int = 0
    children: list["Draft"] = field(default_factory=list)
    valid: bool = True
    source: str = ""  # set when the entry comes from another file (a control script)
    # The valid children by keyword (and value, for unique repeatable ones), so that
    # spotting a repeat costs one look-up: a scan of `children` made a file of many
    # repeated keywords quadratic to check.
    _seen: dict[tuple[str, Value | None], list["Draft"]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def freeze(self) -> Entry:
        kids = tuple(c.freeze() for c in self.children if c.valid)
        return Entry(self.keyword, self.value, self.line, kids, self.source)

    def add(self, child: "Draft", path: str, problems: Problems) -> None:
        """Append `child`, refusing a repeat the declaration does not allow."""
        if child.valid:
            _check_repeats(child, self, path, problems)
        if child.valid:
            self._seen.setdefault(_repeat_key(child), []).append(child)
        self.children.append(child)

    def earlier(self, child: "Draft") -> "Draft | None":
        """The first valid child that `child` would repeat (None when none).

        A child may be marked invalid after it was added (legacy.py drops the RUN_SCRIPT
        line naming a control script), so validity is looked at here, not when indexed.
        """
        for candidate in self._seen.get(_repeat_key(child), ()):
            if candidate.valid:
                return candidate
        return None


def draft(text: str, path: str, schema: Schema, problems: Problems) -> Draft:
    """The parameters of `text` as written, before the required-parameter check."""
    root = Draft(None)
    stack: list[Draft] = [root]
    for token in tokens(text, path, problems):
        _take(token, schema, stack, path, problems)
    return root


def check_required(root: Draft, schema: Schema, path: str, problems: Problems) -> None:
    """Report every required parameter missing from the draft or one of its blocks."""
    _check_required(root, schema.params, path, problems)


def parse_entries(text: str, path: str, schema: Schema, problems: Problems) -> tuple[Entry, ...]:
    """The entries of `text` as written (no defaults), problems reported into `problems`."""
    root = draft(text, path, schema, problems)
    check_required(root, schema, path, problems)
    return root.freeze().children


def parse_document(
    text: str, path: str, schema: Schema, problems: Problems, skip: Skip | None = None
) -> Document:
    """Parse and normalize: defaults filled in, entries in declaration order."""
    entries = parse_entries(text, path, schema, problems)
    return Document(schema.kind, path, normalize(entries, schema.params, skip or _never))


def _never(_param: Param) -> bool:
    return False


def _take(token: Token, schema: Schema, stack: list[Draft], path: str, problems: Problems) -> None:
    placement = schema.find(token.keyword)
    if placement is None:
        problems.error(path, token.line, token.error or _unknown(token, schema))
        return
    param = placement.param
    if param.unsupported:
        problems.error(path, token.line, f"{token.spelled}: {param.unsupported}")
        return
    if param.ignored:
        if not param.quiet:
            problems.warn(path, token.line, f"{token.spelled} ignored: {param.doc}")
        return
    depth = len(placement.parents)
    if len(stack) <= depth or stack[depth].param is not _last(placement.parents):
        owner = placement.parents[-1].keyword
        problems.error(
            path, token.line, token.error or f"{token.spelled} must follow a {owner} line"
        )
        return
    del stack[depth + 1 :]
    parent = stack[depth]
    block = Draft(param, param.keyword, "", token.line)
    try:
        if token.error:
            raise ValueError(token.error)
        block.value = _value(token, param)
    except ValueError as exc:
        problems.error(path, token.line, token.error or f"{token.spelled}: {exc}")
        block.valid = False
    parent.add(block, path, problems)
    if param.is_block:
        stack.append(block)


def _value(token: Token, param: Param) -> Value:
    if not token.value and not token.quoted:
        raise ValueError(f"needs a value ({param.type.hint})")
    return param.type.parse(token.value)


def _last(parents: tuple[Param, ...]) -> Param | None:
    return parents[-1] if parents else None


def _repeat_key(block: Draft) -> tuple[str, Value | None]:
    """What two children must share to repeat each other: the keyword, and the value
    too for a repeatable keyword (only a unique one's repeats are then refused)."""
    param = block.param
    assert param is not None
    return (param.keyword, block.value if param.repeatable else None)


def _check_repeats(block: Draft, parent: Draft, path: str, problems: Problems) -> None:
    param = block.param
    assert param is not None
    if param.repeatable and not param.unique:
        return
    other = parent.earlier(block)
    if other is None:
        return
    if not param.repeatable:
        message = f"{block.keyword} given twice{_where(parent)} (first on line {other.line})"
    else:
        message = (
            f"{block.keyword} {param.type.render(block.value)} given twice"
            f"{_where(parent)} (first on line {other.line})"
        )
    problems.error(block.source or path, block.line, message)
    block.valid = False


def _where(parent: Draft) -> str:
    if parent.param is None:
        return ""
    return f" in {parent.keyword} {parent.param.type.render(parent.value)}"


def _check_required(block: Draft, params: tuple[Param, ...], path: str, problems: Problems) -> None:
    present = {c.param.keyword for c in block.children if c.param is not None}
    for param in params:
        if param.required and param.keyword not in present:
            if block.param is None:
                problems.error(path, 0, f"{param.keyword} is missing ({param.doc})")
            elif block.valid:
                problems.error(
                    block.source or path,
                    block.line,
                    f"{block.keyword} {block.param.type.render(block.value)} needs a "
                    f"{param.keyword} line ({param.doc})",
                )
    for child in block.children:
        if child.param is not None and child.param.is_block and child.valid:
            _check_required(child, child.param.children, path, problems)


def _unknown(token: Token, schema: Schema) -> str:
    from cluster.config.params_cluster import CLUSTER_SCHEMA
    from cluster.config.params_package import PACKAGE_SCHEMA

    other = PACKAGE_SCHEMA if schema.kind == "cluster" else CLUSTER_SCHEMA
    found = other.find(token.keyword)
    if found is not None and not found.param.unsupported and not found.param.ignored:
        return (
            f"{token.spelled} is a {other.kind} parameter; it belongs in "
            f"{'a package file' if other.kind == 'package' else 'the cluster file'}"
        )
    guess = schema.suggest(token.keyword)
    hint = f" (did you mean {schema.spell(guess)}?)" if guess else ""
    return f"unknown keyword {token.spelled}{hint}"
