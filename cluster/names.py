"""Rules for the names operators choose: nodes, users, clusters, packages.

One module so the CLI, the certificate authority and the configuration checker refuse
the same names with the same words.
"""

import re

# Node names go into certificates as DNS names, so they follow host-name rules
# (letters, digits, hyphens); 39 characters as Serviceguard allows.
NODE_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$")
USER_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,38}$")


def node_name_problem(name: str) -> str | None:
    """Why `name` is not a valid node name, or None when it is."""
    if NODE_NAME_RE.match(name):
        return None
    return (
        f"invalid node name {name!r}: use 1 to 39 letters, digits or hyphens, "
        "starting and ending with a letter or digit"
    )


def user_name_problem(name: str) -> str | None:
    if USER_NAME_RE.match(name):
        return None
    return (
        f"invalid user name {name!r}: use up to 32 letters, digits, '_', '.' or '-', "
        "starting with a letter or '_'"
    )


def cluster_name_problem(name: str) -> str | None:
    if CLUSTER_NAME_RE.match(name):
        return None
    return (
        f"invalid cluster name {name!r}: use 1 to 39 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit"
    )


# Packages, services, dependencies and OCF resources: Serviceguard's rule for
# package_name (39 characters, alphanumeric at both ends, '.', '-' or '_' inside).
OBJECT_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,37}[A-Za-z0-9])?$")


def object_name_problem(name: str, kind: str = "package") -> str | None:
    """Why `name` is not a valid package (or service, dependency...) name, or None."""
    if OBJECT_NAME_RE.match(name):
        return None
    return (
        f"invalid {kind} name {name!r}: use 1 to 39 letters, digits, '_', '.' or '-', "
        "starting and ending with a letter or digit"
    )
