"""The Node service: RPCs between the cmcld of one cluster's nodes."""

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from cluster.errors import CmError, FieldError
from cluster.names import node_name_problem, object_name_problem
from cluster.pb.v1 import (
    admin_pb2,
    config_pb2,
    membership_pb2,
    node_pb2,
    package_pb2,
    services_pb2,
    services_pb2_grpc,
)
from cluster.transport.auth import current_identity
from cluster.transport.backend import NodeBackend
from cluster.transport.convert import node_info_to_pb
from cluster.transport.fields import (
    check_evaluation,
    check_name,
    check_package_fields,
    operator_field,
)
from cluster.transport.heartbeat import HeartbeatLinks
from cluster.transport.replies import abort_for, progress

Context = aio.ServicerContext[Any, Any]


class NodeServicer(services_pb2_grpc.NodeServicer):
    def __init__(self, backend: NodeBackend, links: HeartbeatLinks) -> None:
        self._backend = backend
        self._links = links

    def Heartbeat(
        self, request_iterator: AsyncIterator[membership_pb2.HeartbeatFrame], context: Context
    ) -> AsyncIterator[membership_pb2.HeartbeatFrame]:
        leaf = next(iter(context.auth_context().get("x509_pem_cert", ())), b"")
        return self._links.serve(request_iterator, context, current_identity.get().name, leaf)

    async def NodeCommand(
        self, request: admin_pb2.NodeCommandRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        caller = current_identity.get().name
        kinds = (
            admin_pb2.NodeCommandRequest.KIND_RUN_NODE,
            admin_pb2.NodeCommandRequest.KIND_HALT_NODE,
        )
        if request.kind not in kinds:
            raise FieldError("kind", f"{request.kind} is neither KIND_RUN_NODE nor KIND_HALT_NODE")
        run = request.kind == admin_pb2.NodeCommandRequest.KIND_RUN_NODE
        operator = f"{operator_field(request.operator)} through {caller}"
        lines = self._backend.node_command("", run, request.force, operator)
        async for item in progress(lines, "done"):
            yield item

    async def GetNodeInfo(
        self, request: node_pb2.GetNodeInfoRequest, context: Context
    ) -> node_pb2.NodeInfo:
        return node_info_to_pb(await self._backend.node_info())

    async def StageConfig(
        self, request: config_pb2.StageConfigRequest, context: Context
    ) -> config_pb2.StageConfigReply:
        try:
            generation = self._backend.stage_config(current_identity.get().name, request)
        except CmError as exc:
            await abort_for(context, exc)
        return config_pb2.StageConfigReply(
            node_name=self._backend.node_name, current_generation=generation
        )

    async def CommitConfig(
        self, request: config_pb2.CommitConfigRequest, context: Context
    ) -> config_pb2.CommitConfigReply:
        try:
            generation = self._backend.commit_config(current_identity.get().name, request)
        except CmError as exc:
            await abort_for(context, exc)
        return config_pb2.CommitConfigReply(
            node_name=self._backend.node_name, current_generation=generation
        )

    async def AbortConfig(
        self, request: config_pb2.AbortConfigRequest, context: Context
    ) -> config_pb2.AbortConfigReply:
        try:
            self._backend.abort_config(current_identity.get().name, request.transaction)
        except CmError as exc:
            await abort_for(context, exc)
        return config_pb2.AbortConfigReply()

    async def FetchConfig(
        self, request: config_pb2.FetchConfigRequest, context: Context
    ) -> config_pb2.FetchConfigReply:
        blob = self._backend.fetch_config(request.newer_than)
        return config_pb2.FetchConfigReply(blob=blob)

    async def CheckFiles(
        self, request: config_pb2.CheckFilesRequest, context: Context
    ) -> config_pb2.CheckFilesReply:
        if not request.HasField("candidate"):
            raise FieldError("candidate", "missing: the configuration under check")
        found = self._backend.check_files(current_identity.get().name, request.candidate)
        return config_pb2.CheckFilesReply(
            node_name=self._backend.node_name,
            files=[
                config_pb2.FileCheck(path=p, exists=s.exists, executable=s.executable)
                for p, s in found
            ],
        )

    async def ExecutePackageAction(
        self, request: package_pb2.PackageAction, context: Context
    ) -> package_pb2.PackageActionReply:
        check_name("package_name", request.package_name, object_name_problem)
        kinds = (package_pb2.PackageAction.KIND_START, package_pb2.PackageAction.KIND_HALT)
        if request.kind not in kinds:
            raise FieldError("kind", f"{request.kind} is neither KIND_START nor KIND_HALT")
        try:
            report = await self._backend.execute_package_action(request)
        except CmError as exc:
            await abort_for(context, exc)
        return package_pb2.PackageActionReply(report=report)

    async def ReportPackage(
        self, request: package_pb2.NodePackages, context: Context
    ) -> services_pb2.Empty:
        caller = current_identity.get().name
        if request.node_name != caller:
            await abort_for(
                context, FieldError("node_name", f"{caller} reported as {request.node_name!r}")
            )
        self._backend.take_package_report(caller, request)
        return services_pb2.Empty()

    async def GetPackages(
        self, request: package_pb2.GetPackagesRequest, context: Context
    ) -> package_pb2.NodePackages:
        try:
            return self._backend.package_report(request.epoch)
        except CmError as exc:
            await abort_for(context, exc)
            raise

    async def SetPackageFlags(
        self, request: package_pb2.PackageFlags, context: Context
    ) -> services_pb2.Empty:
        for flag in request.packages:
            check_name("packages.package_name", flag.package_name, object_name_problem)
            for node in (*flag.disabled_nodes, *flag.failed_nodes):
                check_name("packages.nodes", node, node_name_problem)
        self._backend.set_package_flags(current_identity.get().name, request)
        return services_pb2.Empty()

    async def PackageCommand(
        self, request: package_pb2.PackageCommandRequest, context: Context
    ) -> AsyncIterator[admin_pb2.CommandProgress]:
        """A package command relayed by the member an operator gave it to. That member
        recorded the operator's verified identity; the node it was issued on is the
        relaying member's certificate, whatever the request says."""
        caller = current_identity.get().name
        if request.WhichOneof("command") is None:
            raise FieldError("command", "missing: run, halt, modify or halt_all")
        request.operator = operator_field(request.operator)
        request.issued_on = caller
        which = request.WhichOneof("command")
        if which in ("run", "halt"):
            inner = getattr(request, which)
            node = [inner.node_name] if inner.node_name else []
            check_package_fields(
                inner.package_name, node, f"{which}.node_name", inner.modules, f"{which}.modules"
            )
        elif which == "evaluate":
            check_evaluation(request.evaluate, "evaluate.")
        elif which == "modify":
            check_package_fields(
                request.modify.package_name, list(request.modify.node_names), "modify.node_names"
            )
        lines = self._backend.package_command(request, caller)
        async for item in progress(lines, "done"):
            yield item
