"""gRPC servicers: translate protobuf requests to backend calls and results back.

The backend (cmcld's node state) knows nothing of gRPC; these classes know nothing of
how the answers are found. Errors from cluster.errors become gRPC status codes here.
"""

from collections.abc import Sequence
from typing import Any, Protocol

import grpc
from grpc import aio

from cluster.core.model import NodeInfo, NodeQuery
from cluster.errors import CmError, FieldError, NotAuthorized, Unreachable
from cluster.pb.v1 import node_pb2, services_pb2_grpc
from cluster.transport.convert import node_info_to_pb

Context = aio.ServicerContext[Any, Any]


class NodeBackend(Protocol):
    async def node_info(self) -> NodeInfo: ...

    async def query_nodes(self, names: Sequence[str]) -> list[NodeQuery]: ...

    def set_log_level(self, level: str) -> tuple[str, str]:
        """Set cmcld's log level ("" only reads it); returns (previous, current)."""
        ...

    @property
    def node_name(self) -> str: ...


async def _abort_for(context: Context, error: CmError) -> None:
    if isinstance(error, FieldError):
        code = grpc.StatusCode.INVALID_ARGUMENT
    elif isinstance(error, NotAuthorized):
        code = grpc.StatusCode.PERMISSION_DENIED
    elif isinstance(error, Unreachable):
        code = grpc.StatusCode.UNAVAILABLE
    else:
        code = grpc.StatusCode.FAILED_PRECONDITION
    await context.abort(code, str(error))


class NodeServicer(services_pb2_grpc.NodeServicer):
    """Peer RPCs between the nodes of a cluster."""

    def __init__(self, backend: NodeBackend) -> None:
        self._backend = backend

    async def GetNodeInfo(
        self, request: node_pb2.GetNodeInfoRequest, context: Context
    ) -> node_pb2.NodeInfo:
        return node_info_to_pb(await self._backend.node_info())


class AdminServicer(services_pb2_grpc.AdminServicer):
    """Operator commands."""

    def __init__(self, backend: NodeBackend) -> None:
        self._backend = backend

    async def GetNodeInfo(
        self, request: node_pb2.GetNodeInfoRequest, context: Context
    ) -> node_pb2.NodeInfo:
        return node_info_to_pb(await self._backend.node_info())

    async def QueryNodes(
        self, request: node_pb2.QueryNodesRequest, context: Context
    ) -> node_pb2.QueryNodesResponse:
        names = list(request.node_names) or [self._backend.node_name]
        try:
            results = await self._backend.query_nodes(names)
        except CmError as exc:
            await _abort_for(context, exc)
        return node_pb2.QueryNodesResponse(
            results=[
                node_pb2.NodeQueryResult(
                    node_name=r.node_name,
                    info=node_info_to_pb(r.info) if r.info else None,
                    error=r.error,
                )
                for r in results
            ]
        )

    async def SetLogLevel(
        self, request: node_pb2.SetLogLevelRequest, context: Context
    ) -> node_pb2.SetLogLevelResponse:
        try:
            previous, level = self._backend.set_log_level(request.level)
        except CmError as exc:
            await _abort_for(context, exc)
        return node_pb2.SetLogLevelResponse(
            node_name=self._backend.node_name, previous_level=previous, level=level
        )
