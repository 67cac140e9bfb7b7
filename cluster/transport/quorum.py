"""The Quorum service on the wire: cmqsd's servicer and the nodes' client."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import grpc
from grpc import aio

from cluster.core.messages import (
    Accept,
    AcceptReply,
    Learn,
    Message,
    Prepare,
    PrepareReply,
    QsState,
    QuorumPing,
    QuorumPong,
)
from cluster.errors import CmError, Unreachable
from cluster.names import cluster_name_problem, shown
from cluster.pb.v1 import membership_pb2 as pb
from cluster.pb.v1 import services_pb2_grpc
from cluster.security.pem import Credentials
from cluster.transport.auth import RefusalLog, current_certificate, current_identity
from cluster.transport.fields import check_name, check_nodes
from cluster.transport.options import PEER_CHANNEL_OPTIONS
from cluster.transport.protocol_codec import ProtocolError, decode, encode
from cluster.transport.replies import abort_for
from cluster.transport.stats import CALLS_REFUSED, TransportStats
from cluster.transport.tls import channel_credentials

QUORUM_PORT = 1238  # Serviceguard's hacl-qs port
_FOR_QUORUM = (QuorumPing, Prepare, Accept, Learn)
_FROM_QUORUM = (QuorumPong, PrepareReply, AcceptReply)
MAX_STATE_ID = 64  # a state id is 16 hex digits; more is not one of ours
MAX_ANCESTORS = 256  # the core keeps 64


@dataclass(frozen=True)
class Roster:
    """The configuration a node presents with each message: its generation, its nodes,
    and the cluster id (empty from a cmcld older than cluster ids)."""

    generation: int
    nodes: tuple[str, ...]
    cluster_id: str = ""


def _state(qs: QsState | None) -> pb.QsState | None:
    if qs is None:
        return None
    return pb.QsState(
        state_id=qs.state_id,
        version=qs.version,
        reset=qs.reset,
        ancestors=[pb.QsAncestor(state_id=i, version=v) for i, v in qs.ancestors],
    )


def _state_back(field: str, value: pb.QsState) -> QsState:
    """A QsState from the wire, bounded (ProtocolError names the field)."""
    if len(value.ancestors) > MAX_ANCESTORS:
        raise ProtocolError(field, f"{len(value.ancestors)} ancestors, more than {MAX_ANCESTORS}")
    ids = [value.state_id, *(a.state_id for a in value.ancestors)]
    if any(not i or len(i) > MAX_STATE_ID or not (i.isalnum() and i.isascii()) for i in ids):
        raise ProtocolError(field, "a state id is 1 to 64 letters or digits")
    ancestors = tuple((a.state_id, a.version) for a in value.ancestors)
    return QsState(value.state_id, value.version, value.reset, ancestors)


class QuorumBackend(Protocol):
    async def exchange(
        self, node: str, ca: str, cluster: str, roster: Roster, message: Message
    ) -> list[Message]: ...


class QuorumServicer(services_pb2_grpc.QuorumServicer):
    def __init__(self, backend: QuorumBackend, stats: TransportStats) -> None:
        self._backend = backend
        self._stats = stats
        self._log_refusal = RefusalLog()

    async def Exchange(
        self, request: pb.QuorumRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.QuorumReply:
        node = current_identity.get().name
        peer = current_certificate.get()
        if peer is None:  # a server built without its certificate check
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "certificate not checked")
            raise AssertionError("abort raises")
        try:
            check_name("cluster_name", request.cluster_name, cluster_name_problem)
            check_nodes("configured_nodes", request.configured_nodes)
            cid = request.cluster_id
            if cid and (len(cid) > MAX_STATE_ID or not cid.isalnum() or not cid.isascii()):
                raise ProtocolError("cluster_id", "a cluster id is up to 64 letters or digits")
            roster = Roster(
                request.config_generation, tuple(request.configured_nodes), request.cluster_id
            )
            message = decode(request.message)
            if not isinstance(message, _FOR_QUORUM):
                raise ProtocolError(
                    "message", f"{type(message).__name__} is not for a quorum server"
                )
            known = _state_back("known", request.known) if request.HasField("known") else None
            message = replace(message, known=known, pending=request.pending)
            if message.cluster_name != request.cluster_name:
                raise ProtocolError(
                    "message.cluster_name", "differs from the request's cluster_name"
                )
            replies = await self._backend.exchange(
                node, peer.issuer_fingerprint, request.cluster_name, roster, message
            )
        except CmError as exc:
            # Refused as a node's calls to cmcld are: counted, and logged (at a bounded rate).
            count = self._stats.add(CALLS_REFUSED)
            self._log_refusal(
                "refused Exchange from node %s for cluster %s (%d refused since start): %s",
                node,
                shown(request.cluster_name),
                count,
                exc,
            )
            await abort_for(context, exc)
        answered = [m for m in replies if isinstance(m, _FROM_QUORUM)]
        state = _state(answered[-1].qs) if answered else None
        refusal = answered[-1].refusal if answered else ""
        return pb.QuorumReply(messages=[encode(m) for m in replies], state=state, refusal=refusal)


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

    async def exchange(
        self,
        cluster: str,
        generation: int,
        nodes: Sequence[str],
        message: Message,
        timeout: float,
        *,
        cluster_id: str = "",
    ) -> list[Message]:
        """Send `message`; the quorum server's answers, each with the state that gave
        it. What the message tells of the sender (known state, pending) goes in the
        request."""
        known = message.known if isinstance(message, _FOR_QUORUM) else None
        pending = message.pending if isinstance(message, _FOR_QUORUM) else False
        request = pb.QuorumRequest(
            cluster_name=cluster,
            message=encode(message),
            config_generation=generation,
            configured_nodes=list(nodes),
            cluster_id=cluster_id,
            known=_state(known),
            pending=pending,
        )
        last = ""
        for address, stub in zip(self._addresses, self._stubs, strict=True):
            try:
                reply = await stub.Exchange(request, timeout=timeout)
            except aio.AioRpcError as err:
                last = f"{address}: {err.code().name}: {err.details()}"
                continue
            return _answers(reply)
        raise Unreachable(f"quorum server {self.name}: {last}")

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


def _answers(reply: pb.QuorumReply) -> list[Message]:
    """The reply's messages, each answer carrying the state and refusal of the reply
    (an older cmqsd sends none: its answers count as before)."""
    state = _state_back("state", reply.state) if reply.HasField("state") else None
    out: list[Message] = []
    for m in reply.messages:
        message = decode(m)
        if isinstance(message, _FROM_QUORUM):
            message = replace(message, qs=state, refusal=reply.refusal[:1000])
        out.append(message)
    return out
