"""Checks of request fields that every servicer shares: names through the one name
validator, bounded lists, and free text that ends up in logs.

Each raises FieldError naming the field, which the caller receives as
INVALID_ARGUMENT; nothing was done.
"""

import ipaddress
from collections.abc import Callable, Sequence

from google.protobuf.message import Message

from cluster.errors import FieldError
from cluster.names import node_name_problem, object_name_problem
from cluster.packages.modules import check_modules
from cluster.pb.v1 import config_pb2, package_pb2

MAX_NODES = 64  # the most nodes a cluster has: no list of node names is longer
MAX_PACKAGE_FILES = 1000  # package files in one check (Serviceguard allows 300 packages)
MAX_PATH = 4096
MAX_OPERATOR = 120  # "user NAME (role)", "root@NODE", with room for "through NODE"


def check_name(field: str, value: str, problem: Callable[[str], str | None]) -> None:
    why = problem(value)
    if why:
        raise FieldError(field, why)


def check_count(field: str, values: Sequence[object], most: int) -> None:
    if len(values) > most:
        raise FieldError(field, f"{len(values)} entries; at most {most} are accepted")


def check_nodes(field: str, names: Sequence[str]) -> None:
    check_count(field, names, MAX_NODES)
    for name in names:
        check_name(field, name, node_name_problem)


def check_package_fields(
    package: str,
    nodes: Sequence[str],
    node_field: str,
    modules: Sequence[str] = (),
    modules_field: str = "modules",
) -> None:
    """A package command's names (nothing is done when one is bad)."""
    if not package:
        raise FieldError("package_name", "missing: name the package")
    check_name("package_name", package, object_name_problem)
    check_nodes(node_field, nodes)
    problem = check_modules(list(modules))
    if problem:
        raise FieldError(modules_field, problem)


def check_evaluation(request: package_pb2.EvaluateRequest, prefix: str = "") -> None:
    """cmeval's fields: node names, subnets (SUBNET or SUBNET@NODE, an address with an
    optional prefix), configuration files bounded as cmcheckconf's."""
    for name in ("fail_nodes", "halt_nodes", "join_nodes"):
        check_nodes(prefix + name, getattr(request, name))
    check_count(prefix + "down_subnets", request.down_subnets, MAX_NODES)
    for text in request.down_subnets:
        subnet, _, node = text.partition("@")
        try:
            ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            raise FieldError(
                prefix + "down_subnets", f"{text[:60]!r} is not SUBNET[@NODE]"
            ) from None
        if node:
            check_name(prefix + "down_subnets", node, node_name_problem)
    check_sources(request.config)


def operator_field(text: str) -> str:
    """Who an operator was, as the member that verified them recorded it: printable
    and short, since it goes into logs; empty means "an operator"."""
    if len(text) > MAX_OPERATOR or not text.isprintable():
        raise FieldError("operator", "not a printable identity of at most 120 characters")
    return text or "an operator"


def check_sources(request: config_pb2.CheckConfigRequest) -> None:
    """The files of a cmcheckconf or cmapplyconf: bounded in number, paths printable
    (they end up in messages and logs); their text is the checker's to judge."""
    check_count("packages", request.packages, MAX_PACKAGE_FILES)
    sources = [request.cluster] if request.HasField("cluster") else []
    for i, source in enumerate([*sources, *request.packages]):
        field = "cluster" if i == 0 and sources else "packages"
        for path in (source.path, source.control_path):
            if len(path) > MAX_PATH or not path.isprintable():
                raise FieldError(f"{field}.path", "not a printable path")


def unknown_enum(message: Message, prefix: str = "") -> str | None:
    """The first field (dotted path) holding a value its enum does not define: proto3
    keeps unknown numbers, so a kind 99 would reach the servicer otherwise."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        items = value if field.is_repeated else [value]
        if field.enum_type is not None:
            if any(v not in field.enum_type.values_by_number for v in items):
                return path
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            for item in items:
                found = unknown_enum(item, f"{path}.")
                if found:
                    return found
    return None
