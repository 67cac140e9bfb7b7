"""What the servicers need from the daemon: the node's answers, free of gRPC.

The daemon implements this; the servicers translate protobuf to these calls and the
results (or cluster.errors exceptions) back to protobuf and status codes.
"""

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from cluster.config.files import FileStatus
from cluster.config.problems import Problem
from cluster.core.model import ClusterView, NodeInfo, NodeQuery
from cluster.pb.v1 import config_pb2, package_pb2
from cluster.security.identity import Identity


class NodeBackend(Protocol):
    @property
    def node_name(self) -> str: ...

    async def node_info(self) -> NodeInfo: ...

    async def query_nodes(self, names: Sequence[str]) -> list[NodeQuery]: ...

    def set_log_level(self, level: str) -> tuple[str, str]:
        """Set cmcld's log level ("" only reads it); returns (previous, current)."""
        ...

    # Configuration, between nodes (the caller is an authenticated node).
    def stage_config(self, caller: str, request: config_pb2.StageConfigRequest) -> int: ...

    def commit_config(self, caller: str, request: config_pb2.CommitConfigRequest) -> int: ...

    def abort_config(self, caller: str, transaction: str) -> None: ...

    def fetch_config(self, newer_than: int) -> config_pb2.ConfigBlob | None: ...

    def check_files(
        self, caller: str, candidate: config_pb2.ClusterConfig
    ) -> list[tuple[str, FileStatus]]:
        """The files `candidate` needs on this node (CheckFiles)."""
        ...

    # Configuration, for operators.
    async def check_config(self, request: config_pb2.CheckConfigRequest) -> list[Problem]: ...

    def apply_config(
        self, request: config_pb2.ApplyConfigRequest, caller: Identity
    ) -> AsyncIterator[str]:
        """Progress lines; raises CmError (or ConfigError) when nothing was applied."""
        ...

    def delete_config(self, package: str, caller: Identity) -> AsyncIterator[str]: ...

    def applied_config(self) -> config_pb2.ConfigBlob | None: ...

    # Packages, for operators (cmrunpkg, cmhaltpkg, cmmodpkg). Each yields progress
    # lines; raising CmError ends the command with that error (FieldError: a bad field).
    def run_package(
        self, package: str, node: str, caller: str, modules: tuple[str, ...] = (), preview: int = 0
    ) -> AsyncIterator[str]:
        """Start `package` on `node` ("": where the policy engine chooses); `modules`:
        a partial start (maintenance mode); `preview` (package_pb2.Preview): say what
        would happen instead."""
        ...

    def halt_package(
        self, package: str, node: str, caller: str, modules: tuple[str, ...] = (), preview: int = 0
    ) -> AsyncIterator[str]:
        """Halt `package` on `node` ("": wherever it runs); AUTO_RUN goes off.
        `modules`: halt only these (maintenance mode)."""
        ...

    def modify_package(
        self,
        package: str,
        enable: bool,
        nodes: Sequence[str],
        caller: str,
        *,
        maintenance: bool | None = None,
        preview: int = 0,
    ) -> AsyncIterator[str]:
        """Switching of `package`: with no nodes, global switching (AUTO_RUN; enabling
        also clears its failure history); with nodes, node switching on those nodes.
        `maintenance` True/False: cmmodpkg -m on/off instead (`enable` unused)."""
        ...

    def evaluate(self, request: package_pb2.EvaluateRequest, caller: str) -> AsyncIterator[str]:
        """cmeval and -t of the node and cluster commands: a prediction, nothing done."""
        ...

    # Cluster membership (cmruncl, cmhaltcl, cmrunnode, cmhaltnode, cmviewcl).
    def run_cluster(self, nodes: Sequence[str], caller: str) -> AsyncIterator[str]: ...

    def halt_cluster(self, force: bool, caller: str) -> AsyncIterator[str]: ...

    def node_command(self, node: str, run: bool, force: bool, caller: str) -> AsyncIterator[str]:
        """cmrunnode/cmhaltnode for `node` ("" or this node: here)."""
        ...

    async def view(self) -> ClusterView: ...

    # Packages, between nodes: the coordinator's orders and the members' reports.
    async def execute_package_action(
        self, action: package_pb2.PackageAction
    ) -> package_pb2.PackageReport: ...

    def take_package_report(self, caller: str, report: package_pb2.NodePackages) -> None: ...

    def package_report(self, epoch: int) -> package_pb2.NodePackages: ...

    def set_package_flags(self, caller: str, flags: package_pb2.PackageFlags) -> None:
        """The coordinator's replicated flags; raises FieldError when they are not of
        this node's current epoch."""
        ...

    def package_command(
        self, request: package_pb2.PackageCommandRequest, caller: str
    ) -> AsyncIterator[str]:
        """A package command relayed by another node: run it here (the coordinator)."""
        ...
