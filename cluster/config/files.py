"""Scripts and programs must exist and be executable on every node that may run them.

Which files a configuration needs is decided here, purely; whether they are there is
asked through the `FileChecker` seam. cmcheckconf and cmapplyconf plug in a checker
that asks each node's cmcld over gRPC (CheckFiles); `LocalFileChecker` answers from
this host's file system, for tests and for a one-host check.
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cluster.config.model import Config, Origin
from cluster.config.params_package import OCF_ROOT
from cluster.config.problems import Problems
from cluster.config.types import program_of


@dataclass(frozen=True)
class FileStatus:
    exists: bool
    executable: bool


@dataclass(frozen=True)
class NodeFiles:
    """One node's answer: the status of each path asked, or why it could not answer."""

    files: Mapping[str, FileStatus] = field(default_factory=dict)
    error: str = ""


class FileChecker(Protocol):
    def check(self, wanted: Mapping[str, Sequence[str]]) -> Mapping[str, NodeFiles]:
        """For each node name, the status of the paths asked (one request per node).

        A node missing from the answer counts as one that could not be asked.
        """
        ...


class LocalFileChecker:
    """Answers for every node from this host's file system."""

    def check(self, wanted: Mapping[str, Sequence[str]]) -> Mapping[str, NodeFiles]:
        return {
            node: NodeFiles({p: local_status(p) for p in paths}) for node, paths in wanted.items()
        }


def local_status(path: str) -> FileStatus:
    exists = os.path.isfile(path)
    return FileStatus(exists, exists and os.access(path, os.X_OK))


@dataclass(frozen=True)
class NeededFile:
    """An executable the configuration names, where it is named, and on which nodes."""

    path: str
    label: str  # "RUN_SCRIPT", "SERVICE_CMD of service app", ...
    where: tuple[str, int]
    nodes: tuple[str, ...]


def needed_files(config: Config, ocf_root: str = OCF_ROOT) -> list[NeededFile]:
    """Every script, service program and OCF agent, with the nodes that may run it."""
    needed: list[NeededFile] = []
    for package in config.packages:
        nodes = tuple(n for n in package.eligible_nodes(config.cluster) if config.cluster.node(n))
        origin: Origin = package.origin
        for keyword, path in (
            ("RUN_SCRIPT", package.run_script),
            ("HALT_SCRIPT", package.halt_script),
        ):
            if path:
                needed.append(NeededFile(path, keyword, origin.where(keyword), nodes))
        for service in package.services:
            label = f"SERVICE_CMD of service {service.name}"
            where = service.origin.where("SERVICE_CMD")
            needed.append(NeededFile(program_of(service.command), label, where, nodes))
        for resource in package.ocf_resources:
            label = f"OCF_AGENT of {resource.name}"
            where = resource.origin.where("OCF_AGENT")
            needed.append(NeededFile(resource.agent_path(ocf_root), label, where, nodes))
    return needed


def check_needed_files(
    needed: Sequence[NeededFile], checker: FileChecker, problems: Problems
) -> None:
    """Ask each node once for all its files, then report per file which nodes lack it."""
    wanted: dict[str, list[str]] = {}
    for item in needed:
        for node in item.nodes:
            paths = wanted.setdefault(node, [])
            if item.path not in paths:
                paths.append(item.path)
    if not wanted:
        return
    answers = checker.check({node: tuple(paths) for node, paths in wanted.items()})
    unreachable: dict[str, str] = {}
    for node in wanted:
        answer = answers.get(node)
        if answer is None or answer.error:
            unreachable[node] = answer.error if answer else "no answer"
    for node, reason in sorted(unreachable.items()):
        first = next(i for i in needed if node in i.nodes)
        problems.warn(*first.where, f"could not check the scripts on node {node}: {reason}")
    for item in needed:
        missing, not_executable = [], []
        for node in item.nodes:
            if node in unreachable:
                continue
            status = answers[node].files.get(item.path)
            if status is None or not status.exists:
                missing.append(node)
            elif not status.executable:
                not_executable.append(node)
        if missing:
            problems.error(
                *item.where, f"{item.label} {item.path} does not exist on {_nodes(missing)}"
            )
        if not_executable:
            problems.error(
                *item.where,
                f"{item.label} {item.path} is not executable on {_nodes(not_executable)}",
            )


def _nodes(names: list[str]) -> str:
    return ("node " if len(names) == 1 else "nodes ") + ", ".join(names)
