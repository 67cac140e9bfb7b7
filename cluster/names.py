"""Rules for the names operators choose: nodes, users, clusters, packages, quorum servers.

One module so the CLI, the certificate authority, certificates seen at call time, RPC
fields and the configuration checker refuse the same names with the same words.

Every pattern must match the whole string (`fullmatch`): with `re.match` and `$`,
"n1\\n" would pass, since `$` also matches before a trailing newline. Whatever the
pattern, a name is refused when it is empty, holds a control character (NUL, newline),
a space, a '/' or '..': it ends up in file names, log lines and certificates.
Messages quote at most a short prefix of the input, so a hostile megabyte is never
echoed back into a log or a status message.
"""

import re

# Node names go into certificates as DNS names, so they follow host-name rules
# (letters, digits, hyphens); 39 characters as Serviceguard allows.
NODE_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?")
USER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,38}")
# Packages, services, dependencies and OCF resources: Serviceguard's rule for
# package_name (39 characters, alphanumeric at both ends, '.', '-' or '_' inside).
OBJECT_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,37}[A-Za-z0-9])?")

SHOWN_CHARACTERS = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`text` quoted for a message: repr'd, cut after `limit` characters with its length."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def _reason(name: str) -> str | None:
    """A word about what the quoted name and the rule alone would not make plain (an
    empty or invisible character, a '..' the charset allows); spaces and '/' are
    outside every charset and visible in the quote."""
    if not name:
        return "empty"
    if _CONTROL.search(name):
        return "holds a control character"
    if ".." in name:
        return "holds '..'"
    return None


def _problem(kind: str, name: str, pattern: re.Pattern[str], rule: str) -> str | None:
    # Every charset is printable ASCII without spaces or '/', and no pattern matches the
    # empty name: a full match leaves only '..' to refuse (the fast path of every RPC).
    if pattern.fullmatch(name) and ".." not in name:
        return None
    reason = _reason(name)
    because = f"{reason}; " if reason else ""
    return f"invalid {kind} name {shown(name)}: {because}{rule}"


def node_name_problem(name: str) -> str | None:
    """Why `name` is not a valid node name, or None when it is."""
    return _problem(
        "node",
        name,
        NODE_NAME_RE,
        "use 1 to 39 letters, digits or hyphens, starting and ending with a letter or digit",
    )


def quorum_server_name_problem(name: str) -> str | None:
    """Quorum servers are hosts named in certificates like nodes: the node-name rules."""
    return _problem(
        "quorum server",
        name,
        NODE_NAME_RE,
        "use 1 to 39 letters, digits or hyphens, starting and ending with a letter or digit",
    )


def user_name_problem(name: str) -> str | None:
    return _problem(
        "user",
        name,
        USER_NAME_RE,
        "use up to 32 letters, digits, '_', '.' or '-', starting with a letter or '_'",
    )


def cluster_name_problem(name: str) -> str | None:
    return _problem(
        "cluster",
        name,
        CLUSTER_NAME_RE,
        "use 1 to 39 letters, digits, '_', '.' or '-', starting with a letter or digit",
    )


def object_name_problem(name: str, kind: str = "package") -> str | None:
    """Why `name` is not a valid package (or service, dependency...) name, or None."""
    return _problem(
        kind,
        name,
        OBJECT_NAME_RE,
        "use 1 to 39 letters, digits, '_', '.' or '-', starting and ending with a letter or digit",
    )
