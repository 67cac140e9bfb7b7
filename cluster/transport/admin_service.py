"""The Admin service: operator commands, for root on a node and for user certificates."""

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from cluster.config.problems import ConfigError, Problem
from cluster.errors import CmError
from cluster.pb.v1 import admin_pb2, config_pb2, node_pb2, services_pb2_grpc
from cluster.transport.auth import current_identity
from cluster.transport.backend import NodeBackend
from cluster.transport.convert import node_info_to_pb
from cluster.transport.errors import abort_for

Context = aio.ServicerContext[Any, Any]


def _problem_pb(problem: Problem) -> config_pb2.ConfigProblem:
    return config_pb2.ConfigProblem(
        path=problem.path, line=problem.line, message=problem.message, warning=problem.warning
    )


def _line(text: str) -> admin_pb2.CommandProgress:
    return admin_pb2.CommandProgress(line=text)


def _result(ok: bool, message: str) -> admin_pb2.CommandProgress:
    return admin_pb2.CommandProgress(result=admin_pb2.CommandResult(ok=ok, message=message))


async def _progress(
    lines: AsyncIterator[str], done: str
) -> AsyncIterator[admin_pb2.CommandProgress]:
    """A long operation as progress lines and one final result, never a bare error:
    configuration problems come back one per line, as cmcheckconf prints them."""
    try:
        async for text in lines:
            yield _line(text)
    except ConfigError as exc:
        for problem in exc.problems:
            yield _line(str(problem))
        count = len(exc.errors)
        yield _result(False, f"{count} error{'s' if count != 1 else ''}: nothing was applied")
        return
    except CmError as exc:
        yield _result(False, str(exc))
        return
    yield _result(True, done)


class AdminServicer(services_pb2_grpc.AdminServicer):
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
            await abort_for(context, exc)
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
            await abort_for(context, exc)
        return node_pb2.SetLogLevelResponse(
            node_name=self._backend.node_name, previous_level=previous, level=level
        )

    async def CheckConfig(
        self, request: config_pb2.CheckConfigRequest, context: Context
    ) -> config_pb2.CheckConfigReply:
        try:
            problems = await self._backend.check_config(request)
        except CmError as exc:
            await abort_for(context, exc)
        return config_pb2.CheckConfigReply(problems=[_problem_pb(p) for p in problems])

    async def ApplyConfig(
        self, request: config_pb2.ApplyConfigRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        lines = self._backend.apply_config(request, current_identity.get())
        async for item in _progress(lines, "configuration applied"):
            yield item

    async def DeleteConfig(
        self, request: config_pb2.DeleteConfigRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        lines = self._backend.delete_config(request.package_name, current_identity.get())
        async for item in _progress(lines, "configuration deleted"):
            yield item

    async def GetConfig(
        self, request: config_pb2.GetConfigRequest, context: Context
    ) -> config_pb2.GetConfigReply:
        return config_pb2.GetConfigReply(blob=self._backend.applied_config())
