"""The Quorum service on the wire: cmqsd's servicer and the nodes' client."""

from collections.abc import Sequence
from typing import Any, Protocol

import grpc
from grpc import aio

from cluster.core.messages import Accept, Learn, Message, Prepare, QuorumPing
from cluster.errors import CmError, Unreachable
from cluster.pb.v1 import membership_pb2 as pb
from cluster.pb.v1 import services_pb2_grpc
from cluster.security.pem import Credentials
from cluster.security.trust import TrustBundle
from cluster.transport.auth import current_identity
from cluster.transport.options import PEER_CHANNEL_OPTIONS
from cluster.transport.protocol_codec import ProtocolError, decode, encode
from cluster.transport.replies import abort_for
from cluster.transport.tls import channel_credentials

QUORUM_PORT = 1238  # Serviceguard's hacl-qs port
_FOR_QUORUM = (QuorumPing, Prepare, Accept, Learn)


class QuorumBackend(Protocol):
    async def exchange(
        self, node: str, ca: str, cluster: str, message: Message
    ) -> list[Message]: ...


class QuorumServicer(services_pb2_grpc.QuorumServicer):
    def __init__(self, backend: QuorumBackend, trust: TrustBundle) -> None:
        self._backend = backend
        self._trust = trust

    async def Exchange(
        self, request: pb.QuorumRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.QuorumReply:
        node = current_identity.get().name
        leaf = next(iter(context.auth_context().get("x509_pem_cert", ())), b"")
        ca = self._trust.issuer_fingerprint(leaf)
        if ca is None:  # the handshake verified it: only a changed trust bundle gets here
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "certificate of no trusted CA")
        try:
            message = decode(request.message)
            if not isinstance(message, _FOR_QUORUM):
                raise ProtocolError(
                    "message", f"{type(message).__name__} is not for a quorum server"
                )
            if message.cluster_name != request.cluster_name:
                raise ProtocolError(
                    "message.cluster_name", "differs from the request's cluster_name"
                )
            replies = await self._backend.exchange(node, str(ca), request.cluster_name, message)
        except CmError as exc:
            await abort_for(context, exc)
        return pb.QuorumReply(messages=[encode(m) for m in replies])


class QuorumClient:
    """A node's channel to the quorum server: QS_HOST, then QS_ADDR when it fails."""

    def __init__(
        self, credentials: Credentials, name: str, addresses: Sequence[str], port: int = QUORUM_PORT
    ) -> None:
        self.name = name
        self._addresses = list(addresses) or [name]
        options = [*PEER_CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", name)]
        self._channels = [
            aio.secure_channel(
                f"[{a}]:{port}" if ":" in a else f"{a}:{port}",
                channel_credentials(credentials),
                options=options,
            )
            for a in self._addresses
        ]
        self._stubs = [services_pb2_grpc.QuorumStub(c) for c in self._channels]

    async def exchange(self, cluster: str, message: Message, timeout: float) -> list[Message]:
        request = pb.QuorumRequest(cluster_name=cluster, message=encode(message))
        last = ""
        for address, stub in zip(self._addresses, self._stubs, strict=True):
            try:
                reply = await stub.Exchange(request, timeout=timeout)
            except aio.AioRpcError as err:
                last = f"{address}: {err.code().name}: {err.details()}"
                continue
            return [decode(m) for m in reply.messages]
        raise Unreachable(f"quorum server {self.name}: {last}")

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
