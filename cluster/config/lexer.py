"""Lines of a Serviceguard ASCII file into `KEYWORD value` tokens.

The format: one parameter per line, the keyword, white space, then the value up to the
end of the line. `#` starts a comment at the beginning of a line or after white space
(so `a#b` stays a value). A value wholly in double quotes has its quotes removed
(`\\"` and `\\\\` inside stand for `"` and `\\`); in single quotes it is taken literally;
quotes inside a value are kept as written (`service_cmd /bin/app -m "x y"`).
"""

import re
from collections.abc import Iterator
from typing import NamedTuple

from cluster.config.problems import Problems

KEYWORD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_LINE = 8192


class Token(NamedTuple):
    """One parameter line (a tuple: a hundred thousand of them are made cheaply)."""

    line: int
    keyword: str  # upper case
    spelled: str  # as written, for messages
    value: str
    quoted: bool  # the value was written in quotes (so "" is a given empty value)
    error: str = ""  # the line names this keyword but cannot be read; already explained


def tokens(text: str, path: str, problems: Problems) -> Iterator[Token]:
    """Every parameter line of `text`; malformed lines are reported and skipped."""
    # Split on "\n" only: str.splitlines would also split on characters a value may hold.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(raw) > MAX_LINE:
            problems.error(path, number, f"line longer than {MAX_LINE} characters")
            continue
        parts = line.split(None, 1)
        head, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if not KEYWORD_RE.match(head):
            message = _bad_keyword(head)
            keyword = head.split("=", 1)[0]
            if "=" in head and KEYWORD_RE.match(keyword):
                yield Token(number, keyword.upper(), keyword, "", False, message)
            else:
                problems.error(path, number, message)
            continue
        try:
            value, quoted = split_value(rest)
        except ValueError as exc:
            yield Token(number, head.upper(), head, "", False, f"{head}: {exc}")
            continue
        yield Token(number, head.upper(), head, value, quoted)


def split_value(rest: str) -> tuple[str, bool]:
    """The value part of a line without its comment, unquoted when wholly quoted."""
    text = _strip_comment(rest).strip()
    if text[:1] == '"':
        inner, end = _double_quoted(text)
        if end == len(text):
            return inner, True
    elif text[:1] == "'":
        end = text.find("'", 1)
        if end < 0:
            raise ValueError("unterminated quote (')")
        if end == len(text) - 1:
            return text[1:end], True
    return text, False


def quote(value: str) -> str:
    """How a value is written back so that `split_value` returns it unchanged."""
    if value and value == value.strip():
        try:
            if split_value(value) == (value, False):
                return value
        except ValueError:
            pass
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _strip_comment(text: str) -> str:
    if "#" not in text and '"' not in text and "'" not in text:
        return text  # the common case, without the character loop
    quote_char = ""
    previous = " "
    index = 0
    while index < len(text):
        char = text[index]
        if quote_char:
            if char == "\\" and quote_char == '"':
                index += 2
                previous = "x"
                continue
            if char == quote_char:
                quote_char = ""
        elif char in "\"'":
            quote_char = char
        elif char == "#" and previous in " \t":
            return text[:index]
        previous = char
        index += 1
    if quote_char:
        raise ValueError(f"unterminated quote ({quote_char})")
    return text


def _double_quoted(text: str) -> tuple[str, int]:
    """The unescaped content of the quoted string at the start of text, and its end."""
    out: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in '"\\':
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise ValueError('unterminated quote (")')


def _bad_keyword(head: str) -> str:
    if "[" in head and "=" in head:
        return (
            f"{head[:40]!r} is a control-script line: legacy LV[0]=... arrays belong in the "
            "control script named by RUN_SCRIPT (or use the modular FS_NAME, IP_ADDRESS...)"
        )
    if "=" in head:
        keyword = head.split("=", 1)[0]
        return f"expected '{keyword} value', found {head[:40]!r}: separate with a space, not '='"
    return f"expected a KEYWORD and its value, found {head[:40]!r}"
