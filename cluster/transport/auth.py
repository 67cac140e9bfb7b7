"""Authorization of every RPC from the peer's certificate, never from message content.

Each RPC declares in the proto who may call it (`caller`, a class of callers), which
operator role it needs (`required_role`), the largest request it takes
(`max_request_kib`) and, for package commands, which field names the package
(`package_field`). `rules()` reads those declarations once; the `Authorizer` wraps
every method handler so the check runs at call time (aio interceptors cannot read the
TLS auth context, the handler's context can):

1. who: root or an admin-group user on the local socket (as the socket's front door
   recorded it), or the identity of the peer's certificate, verified again here;
2. the request, refused before it is parsed when larger than declared, and as
   INVALID_ARGUMENT when it does not parse;
3. whether that identity may make this call, now (cluster/security/authorization.py),
   with the role the access-control policies give an operator (security/access.py).

Then the servicer runs with the caller's identity in `current_identity`. Whatever it
raises ends as a status code with a short message: a CmError as its status, anything
else as INTERNAL with one line in the log, never as UNKNOWN or a traceback.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import grpc
from grpc import aio

from cluster.errors import CmError
from cluster.pb.v1 import auth_pb2, common_pb2, services_pb2
from cluster.security.access import AccessRules, Where, peer_address
from cluster.security.authorization import (
    DEFAULT_MAX_REQUEST,
    CallerClass,
    Refused,
    Rule,
    Standing,
    Verdict,
    admit,
)
from cluster.security.identity import Identity, IdentityError, Kind, Role, identity_from_uris
from cluster.transport.fields import unknown_enum
from cluster.transport.replies import short, status_for
from cluster.transport.stats import CALLS_FAILED, CALLS_REFUSED, TransportStats

if TYPE_CHECKING:
    from cluster.security.peercert import PeerCertificate

log = logging.getLogger("cmcld.auth")

current_identity: ContextVar[Identity] = ContextVar("current_identity")
# The verified certificate of a TLS caller (None without a CertificateCheck).
current_certificate: ContextVar[PeerCertificate | None] = ContextVar(
    "current_certificate", default=None
)

_ROLES = {
    common_pb2.ROLE_MONITOR: "MONITOR",
    common_pb2.ROLE_PACKAGE_ADMIN: "PACKAGE_ADMIN",
    common_pb2.ROLE_FULL_ADMIN: "FULL_ADMIN",
}
_CLASSES = {
    auth_pb2.CALLER_MEMBER: CallerClass.MEMBER,
    auth_pb2.CALLER_OPERATOR: CallerClass.OPERATOR,
    auth_pb2.CALLER_COORDINATOR: CallerClass.COORDINATOR,
    auth_pb2.CALLER_INVITER: CallerClass.INVITER,
    auth_pb2.CALLER_QUORUM_CLIENT: CallerClass.QUORUM_CLIENT,
}
_CODES = {
    Verdict.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Verdict.DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Verdict.NOT_NOW: grpc.StatusCode.FAILED_PRECONDITION,
}


def rules() -> dict[str, Rule]:
    """The rule of every RPC, keyed by its full path ("/cluster.pb.v1.Admin/...")."""
    table: dict[str, Rule] = {}
    for service in services_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            options = method.GetOptions()
            role_name = _ROLES.get(options.Extensions[auth_pb2.required_role])
            kib = options.Extensions[auth_pb2.max_request_kib]
            table[f"/{service.full_name}/{method.name}"] = Rule(
                method=f"{service.name}/{method.name}",
                caller=_CLASSES.get(options.Extensions[auth_pb2.caller]),
                role=Role[role_name] if role_name else None,
                max_request_bytes=kib << 10 if kib else DEFAULT_MAX_REQUEST,
                package_field=options.Extensions[auth_pb2.package_field],
            )
    return table


def largest_request() -> int:
    """The largest request any RPC declares (the server's receive limit)."""
    return max(rule.max_request_bytes for rule in rules().values())


class Authority(Protocol):
    """What the receiving daemon knows that decides a call: its standing and the
    access-control policies of its applied configuration."""

    def standing(self) -> Standing: ...

    def access(self) -> AccessRules: ...


@dataclass
class FixedAuthority:
    """An authority that never changes: cmqsd (no configuration), and tests."""

    fixed_standing: Standing = field(default_factory=lambda: Standing(None))
    rules: AccessRules = field(default_factory=lambda: AccessRules(""))

    def standing(self) -> Standing:
        return self.fixed_standing

    def access(self) -> AccessRules:
        return self.rules


class CertificateCheck(Protocol):
    """Checks the peer's leaf certificate (PEM, as the handshake verified it) again:
    chain, revocation, names (daemon/peertrust.py). Raises IdentityError."""

    def verify(self, leaf_pem: bytes) -> PeerCertificate: ...


class LocalPeers(Protocol):
    """Who is behind a connection to the local admin socket, as its front door found
    with SO_PEERCRED; None for a connection it did not make."""

    def identity(self, peer: str) -> Identity | None: ...


def identify(
    auth_context: Mapping[str, Iterable[bytes]],
    peer: str,
    certificates: CertificateCheck | None,
    local: LocalPeers | None,
) -> Identity:
    """Who is calling; raises Refused(UNAUTHENTICATED)."""
    security = next(iter(auth_context.get("transport_security_type", ())), b"")
    if security == b"local":
        identity = local.identity(peer) if local is not None else None
        if identity is None:
            raise Refused(
                Verdict.UNAUTHENTICATED,
                "local connection that did not come through the admin socket",
            )
        return identity
    if security != b"ssl":
        raise Refused(Verdict.UNAUTHENTICATED, "connection is not mutually authenticated")
    try:
        if certificates is not None:
            leaf = next(iter(auth_context.get("x509_pem_cert", ())), b"")
            checked = certificates.verify(leaf)
            current_certificate.set(checked)
            return checked.identity
        uris = [uri.decode(errors="replace") for uri in auth_context.get("peer_uri", [])]
        return identity_from_uris(uris)
    except IdentityError as exc:
        raise Refused(Verdict.UNAUTHENTICATED, str(exc)) from None


class RequestRefused(Exception):
    """A request (or a message of a request stream) refused before the servicer saw it:
    too large, unparsable, an unknown enum value. A servicer reading a request stream
    may see it: it means the stream is over, and the call ends with `code`."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Raw:
    """A request not parsed yet: it is parsed only once the caller is known and the
    size is within what the RPC declares."""

    data: bytes


class RefusalLog:
    """Refusals are logged one per line, but at most `burst` per `period` seconds: a
    flood of refused calls must not flood the log (they are all counted)."""

    def __init__(self, burst: int = 20, period: float = 10.0) -> None:
        self._burst, self._period = burst, period
        self._window = 0.0
        self._logged = 0
        self._quiet = 0

    def __call__(self, text: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._window >= self._period:
            if self._quiet:
                log.warning("%d more calls refused in the last %.0f s", self._quiet, self._period)
            self._window, self._logged, self._quiet = now, 0, 0
        if self._logged < self._burst:
            self._logged += 1
            log.warning(text, *args)
        else:
            self._quiet += 1


Behavior = Callable[..., Any]
# Generic only in the type stubs, so the alias must stay a string at run time.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "aio.ServicerContext[Any, Any]"


class Authorizer(aio.ServerInterceptor):
    """Wraps every method handler with the identity, request and policy checks."""

    def __init__(
        self,
        local_node: str,
        stats: TransportStats,
        authority: Authority | None = None,
        *,
        certificates: CertificateCheck | None = None,
        local_peers: LocalPeers | None = None,
    ) -> None:
        self._node = local_node
        self._stats = stats
        self._authority = authority or FixedAuthority()
        self._certificates = certificates
        self._local = local_peers
        self._rules = rules()
        self._log_refusal = RefusalLog()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return handler
        method: str = details.method
        rule = self._rules.get(method) or Rule(method, None)
        return _Gate(self, rule, method).wrap(handler)

    async def refuse(self, context: Context, method: str, refusal: Refused) -> None:
        count = self._stats.add(CALLS_REFUSED)
        self._log_refusal("refused %s (%d refused since start): %s", method, count, refusal)
        await context.abort(_CODES[refusal.verdict], short(str(refusal)))

    def who(self, context: Context) -> Identity:
        return identify(context.auth_context(), context.peer(), self._certificates, self._local)

    def operator_role(self, identity: Identity, context: Context, package: str) -> Role | None:
        peer = context.peer()
        address = None if peer.startswith("unix:") else peer_address(peer)
        return self._authority.access().role(identity, Where(address), package)

    def standing(self) -> Standing:
        return self._authority.standing()

    async def failed(self, context: Context, method: str, exc: Exception) -> None:
        """A servicer raised: a CmError is the operator's answer; anything else is a bug
        to report in one line (the traceback only at debug level)."""
        if isinstance(exc, CmError):
            await context.abort(status_for(exc), short(str(exc)))
        count = self._stats.add(CALLS_FAILED)
        log.error(
            "%s failed (%d since start): %s: %s", method, count, type(exc).__name__, short(str(exc))
        )
        log.debug("%s failed", method, exc_info=exc)
        await context.abort(
            grpc.StatusCode.INTERNAL,
            f"internal error in {method.rsplit('/', 1)[-1]} ({type(exc).__name__}); "
            "the daemon's log has the details",
        )


class _Gate:
    """The checks of one RPC around its behaviour."""

    def __init__(self, authorizer: Authorizer, rule: Rule, method: str) -> None:
        self._auth = authorizer
        self._rule = rule
        self._method = method
        self._parse: Callable[[bytes], Any] = lambda data: data
        self._check_enums = True
        self._refused: RequestRefused | None = None

    async def enter(self, context: Context) -> Identity:
        """Who calls, and whether that class of caller may call at all, before the
        request is parsed (an operator's role comes with the request; a node or quorum
        server certificate is never an operator, so it is refused here)."""
        try:
            identity = self._auth.who(context)
            never_operator = identity.kind in (Kind.NODE, Kind.QUORUM_SERVER)
            if self._rule.caller is not CallerClass.OPERATOR or never_operator:
                admit(self._rule, identity, self._auth.standing())
        except Refused as refusal:
            await self._auth.refuse(context, self._method, refusal)
            raise
        current_identity.set(identity)
        return identity

    def decode(self, raw: Any) -> Any:
        """The request message of `raw`; RequestRefused when it is larger than the RPC
        declares, does not parse, or holds an enum value this version does not know."""
        if not isinstance(raw, _Raw):
            return raw
        limit = self._rule.max_request_bytes
        if len(raw.data) > limit:
            raise RequestRefused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request of {len(raw.data)} bytes: {self._rule.method} takes at most "
                f"{limit >> 10} KiB",
            )
        try:
            request = self._parse(raw.data)
        except Exception:  # protobuf's DecodeError, and whatever a bad buffer raises
            raise RequestRefused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request: not a valid {self._rule.method} request message",
            ) from None
        if self._check_enums:
            field = unknown_enum(request)
            if field:
                raise RequestRefused(
                    grpc.StatusCode.INVALID_ARGUMENT, f"{field}: not a value this version knows"
                )
        return request

    async def authorize(self, context: Context, identity: Identity, request: Any) -> None:
        """Operators: the role the policies give them for this call (and package)."""
        if self._rule.caller is not CallerClass.OPERATOR:
            return
        package = ""
        if self._rule.package_field and request is not None:
            package = str(getattr(request, self._rule.package_field, ""))
        try:
            role = self._auth.operator_role(identity, context, package)
            admit(self._rule, identity, self._auth.standing(), role)
        except Refused as refusal:
            await self._auth.refuse(context, self._method, refusal)

    async def requests(self, items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """A request stream, message by message. A bad message ends it: the servicer's
        reader sees RequestRefused (and stops quietly), the call ends with its status."""
        async for item in items:
            try:
                yield self.decode(item)
            except RequestRefused as refused:
                self._refused = refused
                raise

    async def request(self, context: Context, raw: Any, streaming: bool) -> Any:
        """The caller's request (or request stream), once the caller is admitted."""
        identity = await self.enter(context)
        if streaming:
            await self.authorize(context, identity, None)
            return self.requests(raw)
        try:
            request = self.decode(raw)
        except RequestRefused as refused:
            await context.abort(refused.code, refused.message)
        await self.authorize(context, identity, request)
        return request

    async def unary(self, behavior: Behavior, raw: Any, context: Context, streaming: bool) -> Any:
        request = await self.request(context, raw, streaming)
        try:
            result = behavior(request, context)
            return await result if inspect.isawaitable(result) else result
        except NotImplementedError:
            await _unimplemented(context)
        except (aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await self._failed(context, exc)

    async def stream(
        self, behavior: Behavior, raw: Any, context: Context, streaming: bool
    ) -> AsyncIterator[Any]:
        request = await self.request(context, raw, streaming)
        try:
            async for item in behavior(request, context):
                yield item
        except NotImplementedError:
            await _unimplemented(context)
        except (aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await self._failed(context, exc)
        if self._refused is not None:  # the servicer stopped reading at a bad message
            await context.abort(self._refused.code, self._refused.message)

    async def _failed(self, context: Context, exc: Exception) -> None:
        refused = exc if isinstance(exc, RequestRefused) else self._refused
        if refused is not None:
            await context.abort(refused.code, refused.message)
        await self._auth.failed(context, self._method, exc)

    def wrap(self, handler: Handler) -> Handler:
        """The same handler, with requests kept unparsed (`_Raw`) until admitted."""
        self._parse = handler.request_deserializer or (lambda data: data)
        streaming = bool(handler.request_streaming)
        # A request stream (heartbeats) is checked by its codec, frame by frame: walking
        # every frame here would cost the heartbeat path for nothing.
        self._check_enums = not streaming
        serialize = handler.response_serializer
        behavior: Behavior | None
        if behavior := handler.unary_unary or handler.stream_unary:
            inner = behavior

            async def unary(raw: Any, context: Context) -> Any:
                return await self.unary(inner, raw, context, streaming)

            make = (
                grpc.stream_unary_rpc_method_handler
                if streaming
                else grpc.unary_unary_rpc_method_handler
            )
            return make(unary, _Raw, serialize)
        behavior = handler.unary_stream or handler.stream_stream
        assert behavior is not None, "a method handler has one of the four behaviours"
        outer = behavior

        async def stream(raw: Any, context: Context) -> AsyncIterator[Any]:
            async for item in self.stream(outer, raw, context, streaming):
                yield item

        make_stream = (
            grpc.stream_stream_rpc_method_handler
            if streaming
            else grpc.unary_stream_rpc_method_handler
        )
        return make_stream(stream, _Raw, serialize)


async def _unimplemented(context: Context) -> None:
    from cluster.version import __version__

    await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"not available in cmcluster {__version__}")
