"""The Admin service: operator commands, for root on a node and for user certificates."""

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from cluster.config.problems import Problem
from cluster.errors import CmError
from cluster.names import object_name_problem
from cluster.pb.v1 import (
    admin_pb2,
    config_pb2,
    node_pb2,
    package_pb2,
    services_pb2_grpc,
    view_pb2,
)
from cluster.transport.auth import current_identity
from cluster.transport.backend import NodeBackend
from cluster.transport.convert import node_info_to_pb, view_to_pb
from cluster.transport.convert_session import MAINTENANCE
from cluster.transport.fields import (
    check_evaluation,
    check_name,
    check_nodes,
    check_package_fields,
    check_sources,
)
from cluster.transport.replies import abort_for, progress

Context = aio.ServicerContext[Any, Any]


def _problem_pb(problem: Problem) -> config_pb2.ConfigProblem:
    return config_pb2.ConfigProblem(
        path=problem.path, line=problem.line, message=problem.message, warning=problem.warning
    )


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
        check_nodes("node_names", request.node_names)
        names = list(dict.fromkeys(request.node_names)) or [self._backend.node_name]
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
        check_sources(request)
        try:
            problems = await self._backend.check_config(request)
        except CmError as exc:
            await abort_for(context, exc)
        return config_pb2.CheckConfigReply(problems=[_problem_pb(p) for p in problems])

    async def ApplyConfig(
        self, request: config_pb2.ApplyConfigRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        check_sources(request.sources)
        lines = self._backend.apply_config(request, current_identity.get())
        async for item in progress(lines, "configuration applied"):
            yield item

    async def DeleteConfig(
        self, request: config_pb2.DeleteConfigRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        if request.package_name:
            check_name("package_name", request.package_name, object_name_problem)
        lines = self._backend.delete_config(request.package_name, current_identity.get())
        async for item in progress(lines, "configuration deleted"):
            yield item

    async def RunCluster(
        self, request: admin_pb2.RunClusterRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        check_nodes("node_names", request.node_names)
        lines = self._backend.run_cluster(list(request.node_names), str(current_identity.get()))
        async for item in progress(lines, "cluster running"):
            yield item

    async def HaltCluster(
        self, request: admin_pb2.HaltClusterRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        lines = self._backend.halt_cluster(request.force, str(current_identity.get()))
        async for item in progress(lines, "cluster halted"):
            yield item

    async def RunNode(
        self, request: admin_pb2.RunNodeRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        lines = self._backend.node_command(
            request.node_name, True, False, str(current_identity.get())
        )
        async for item in progress(lines, "node running"):
            yield item

    async def HaltNode(
        self, request: admin_pb2.HaltNodeRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        lines = self._backend.node_command(
            request.node_name, False, request.force, str(current_identity.get())
        )
        async for item in progress(lines, "node halted"):
            yield item

    async def ViewCluster(
        self, request: view_pb2.ViewClusterRequest, context: Context
    ) -> view_pb2.ClusterView:
        return view_to_pb(await self._backend.view())

    async def GetConfig(
        self, request: config_pb2.GetConfigRequest, context: Context
    ) -> config_pb2.GetConfigReply:
        return config_pb2.GetConfigReply(blob=self._backend.applied_config())

    async def Evaluate(
        self, request: package_pb2.EvaluateRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        try:
            check_evaluation(request)
        except CmError as exc:
            await abort_for(context, exc)
        lines = self._backend.evaluate(request, str(current_identity.get()))
        async for item in progress(lines, "nothing was changed"):
            yield item

    async def RunPackage(
        self, request: package_pb2.RunPackageRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        node = request.node_name
        try:
            check_package_fields(
                request.package_name, [node] if node else [], "node_name", request.modules
            )
        except CmError as exc:
            await abort_for(context, exc)
        caller = str(current_identity.get())
        lines = self._backend.run_package(
            request.package_name, node, caller, tuple(request.modules), request.preview
        )
        async for item in progress(lines, f"package {request.package_name} started"):
            yield item

    async def HaltPackage(
        self, request: package_pb2.HaltPackageRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        node = request.node_name
        try:
            check_package_fields(
                request.package_name, [node] if node else [], "node_name", request.modules
            )
        except CmError as exc:
            await abort_for(context, exc)
        caller = str(current_identity.get())
        lines = self._backend.halt_package(
            request.package_name, node, caller, tuple(request.modules), request.preview
        )
        async for item in progress(lines, f"package {request.package_name} halted"):
            yield item

    async def ModifyPackage(
        self, request: package_pb2.ModifyPackageRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        nodes = list(request.node_names)
        try:
            check_package_fields(request.package_name, nodes, "node_names")
        except CmError as exc:
            await abort_for(context, exc)
        caller = str(current_identity.get())
        maintenance = MAINTENANCE.get(request.maintenance)
        lines = self._backend.modify_package(
            request.package_name,
            request.enable,
            nodes,
            caller,
            maintenance=maintenance,
            preview=request.preview,
        )
        verb = "enabled" if request.enable else "disabled"
        where = f" on {', '.join(nodes)}" if nodes else ""
        done = f"switching of {request.package_name} {verb}{where}"
        if maintenance is not None:
            done = f"maintenance mode of {request.package_name} {'on' if maintenance else 'off'}"
        async for item in progress(lines, done):
            yield item
