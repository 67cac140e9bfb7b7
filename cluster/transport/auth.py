"""Authorization of every RPC from the peer's certificate, never from message content.

Each RPC declares in the proto who may call it (`caller`) and which operator role it
needs (`required_role`). The server wraps every method handler so the check runs at
call time: aio interceptors cannot read the TLS auth context, the handler's context
can. The caller's identity is then available to the servicer as `current_identity`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from grpc import aio

from cluster.pb.v1 import auth_pb2, common_pb2, services_pb2
from cluster.security.identity import (
    Identity,
    IdentityError,
    Kind,
    Role,
    identity_from_uris,
    local_root,
)
from cluster.transport.stats import CALLS_REFUSED, TransportStats

log = logging.getLogger("cmcld.auth")

current_identity: ContextVar[Identity] = ContextVar("current_identity")

_ROLES = {
    common_pb2.ROLE_MONITOR: Role.MONITOR,
    common_pb2.ROLE_PACKAGE_ADMIN: Role.PACKAGE_ADMIN,
    common_pb2.ROLE_FULL_ADMIN: Role.FULL_ADMIN,
}


@dataclass(frozen=True)
class MethodPolicy:
    method: str  # "Admin/SetLogLevel", for messages
    caller: int  # auth_pb2.Caller
    role: Role | None


def method_policies() -> dict[str, MethodPolicy]:
    """The policy of every RPC, keyed by its full path ("/cluster.pb.v1.Admin/...")."""
    policies: dict[str, MethodPolicy] = {}
    for service in services_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            options = method.GetOptions()
            caller = options.Extensions[auth_pb2.caller]
            role = _ROLES.get(options.Extensions[auth_pb2.required_role])
            path = f"/{service.full_name}/{method.name}"
            policies[path] = MethodPolicy(f"{service.name}/{method.name}", caller, role)
    return policies


class Refusal(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def identify(auth_context: Mapping[str, Iterable[bytes]], local_node: str) -> Identity:
    """Who is calling: root through the local socket, or a certificate's identity."""
    security = next(iter(auth_context.get("transport_security_type", ())), b"")
    if security == b"local":
        # Only root can reach the admin socket (its directory is 0700 root).
        return local_root(local_node)
    if security != b"ssl":
        raise Refusal(grpc.StatusCode.UNAUTHENTICATED, "connection is not mutually authenticated")
    uris = [uri.decode(errors="replace") for uri in auth_context.get("peer_uri", [])]
    try:
        return identity_from_uris(uris)
    except IdentityError as exc:
        raise Refusal(grpc.StatusCode.UNAUTHENTICATED, str(exc)) from None


def check(policy: MethodPolicy | None, identity: Identity, method: str) -> None:
    """Raise Refusal unless `identity` may call the method."""
    if policy is None or policy.caller == auth_pb2.CALLER_UNSPECIFIED:
        raise Refusal(grpc.StatusCode.PERMISSION_DENIED, f"{method} declares no callers")
    if policy.caller == auth_pb2.CALLER_NODE:
        if identity.kind is not Kind.NODE:
            raise Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{identity} may not call {policy.method}: only nodes of the cluster may",
            )
        return
    if identity.kind is Kind.NODE:
        raise Refusal(
            grpc.StatusCode.PERMISSION_DENIED,
            f"node certificate {identity.name!r} may not call {policy.method}: operator "
            "commands need root on a node or a user certificate",
        )
    needed = policy.role or Role.FULL_ADMIN
    if not identity.may_operate(needed):
        role = identity.role.label if identity.role else "no role"
        raise Refusal(
            grpc.StatusCode.PERMISSION_DENIED,
            f"{identity.kind.value} {identity.name} has role {role}; "
            f"{policy.method} needs {needed.label}",
        )


Behavior = Callable[..., Any]
# Generic only in the type stubs, so the alias must stay a string at run time.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class Authorizer(aio.ServerInterceptor):
    """Wraps every method handler with the identity and policy check."""

    def __init__(self, local_node: str, stats: TransportStats) -> None:
        self._node = local_node
        self._stats = stats
        self._policies = method_policies()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return handler
        method: str = details.method
        return _wrap(handler, lambda ctx: self._admit(ctx, method))

    async def _admit(self, context: aio.ServicerContext[Any, Any], method: str) -> Identity:
        try:
            identity = identify(context.auth_context(), self._node)
            check(self._policies.get(method), identity, method)
        except Refusal as refusal:
            count = self._stats.add(CALLS_REFUSED)
            log.warning("refused %s (%d refused since start): %s", method, count, refusal)
            await context.abort(refusal.code, str(refusal))
            raise  # abort raises; this line is for type checkers
        current_identity.set(identity)
        return identity


def _wrap(
    handler: Handler,
    admit: Callable[[aio.ServicerContext[Any, Any]], Awaitable[Identity]],
) -> Handler:
    deserialize, serialize = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        inner_uu: Behavior = handler.unary_unary

        async def unary_unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            await admit(context)
            return await _call_unary(inner_uu, request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, deserialize, serialize)
    if handler.unary_stream is not None:
        inner_us: Behavior = handler.unary_stream

        async def unary_stream(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            await admit(context)
            async for item in _call_stream(inner_us, request, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream, deserialize, serialize)
    if handler.stream_unary is not None:
        inner_su: Behavior = handler.stream_unary

        async def stream_unary(requests: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            await admit(context)
            return await _call_unary(inner_su, requests, context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, deserialize, serialize)
    inner_ss: Behavior | None = handler.stream_stream
    assert inner_ss is not None, "a method handler has one of the four behaviours"

    async def stream_stream(requests: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        await admit(context)
        async for item in _call_stream(inner_ss, requests, context):
            yield item

    return grpc.stream_stream_rpc_method_handler(stream_stream, deserialize, serialize)


async def _call_unary(
    behavior: Behavior, request: Any, context: aio.ServicerContext[Any, Any]
) -> Any:
    try:
        result = behavior(request, context)
    except NotImplementedError:
        await _unimplemented(context)
    return await result if inspect.isawaitable(result) else result


async def _call_stream(
    behavior: Behavior, request: Any, context: aio.ServicerContext[Any, Any]
) -> AsyncIterator[Any]:
    try:
        result = behavior(request, context)
    except NotImplementedError:
        await _unimplemented(context)
    async for item in result:
        yield item


async def _unimplemented(context: aio.ServicerContext[Any, Any]) -> None:
    from cluster.version import __version__

    await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"not available in cmcluster {__version__}")
