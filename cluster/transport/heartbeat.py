"""Heartbeat streams: one long-lived gRPC stream per pair of nodes per heartbeat network.

The lower-named node of a pair dials; the stream then carries both nodes' membership
protocol messages, in both directions. A message to a peer goes out on every live path
to it (a peer is alive while any path is; the core ignores duplicates). Each side's
first frame is a hello whose node name must match the peer's certificate; a deliberate
close sends a goodbye first, so a clean leave is told apart from a dead peer.

Nothing here interprets the protocol: received messages are decoded and handed to the
daemon with the sender's authenticated name.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc import aio

from cluster.core.messages import Message
from cluster.pb.v1 import membership_pb2 as pb
from cluster.pb.v1 import services_pb2_grpc
from cluster.security.pem import Credentials
from cluster.transport.auth import RequestRefused
from cluster.transport.options import PEER_CHANNEL_OPTIONS
from cluster.transport.protocol_codec import ProtocolError, decode, encode
from cluster.transport.stats import TransportStats
from cluster.transport.tls import channel_credentials

log = logging.getLogger("cmcld.heartbeat")

_NETWORK = re.compile(r"[A-Za-z0-9.:/_-]{1,64}")  # a subnet ("198.18.1.0/24"), as PathSpec names it
QUEUE_LIMIT = 512
BATCH_LIMIT = 64  # frames waiting on one stream; more means the path is stuck: drop
MIN_BACKOFF, MAX_BACKOFF = 0.1, 1.0
PROTOCOL_ERRORS = "protocol_errors"
STREAMS_OPENED = "heartbeat_streams_opened"


@dataclass(frozen=True)
class PathSpec:
    """One heartbeat path to a peer: our address and its, on one network."""

    peer: str
    network: str  # the subnet, "198.18.1.0/24"
    local: str
    remote: str


@dataclass
class Link:
    peer: str
    network: str
    dialed: bool
    remote: str = ""
    certificate: bytes = b""  # the peer's leaf (PEM), on the accepting side
    since: float = field(default_factory=time.monotonic)
    last_frame: float = field(default_factory=time.monotonic)
    queue: asyncio.Queue[pb.HeartbeatFrame | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )

    def put(self, frame: pb.HeartbeatFrame | None) -> bool:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True


@dataclass(frozen=True)
class LinkStatus:
    peer: str
    network: str
    remote: str
    up: bool
    age: float  # seconds since the last frame from the peer


Deliver = Callable[[str, Message], None]


class HeartbeatLinks:
    def __init__(
        self,
        *,
        node: str,
        cluster_name: Callable[[], str],
        generation: Callable[[], int],
        credentials: Credentials,
        port: int,
        deliver: Deliver,
        on_generation: Callable[[str, int], None],
        stats: TransportStats,
    ) -> None:
        self._node = node
        self._cluster_name = cluster_name
        self._generation = generation
        self._credentials = credentials
        self.port = port
        self._deliver = deliver
        self._on_generation = on_generation
        self._stats = stats
        self._links: dict[tuple[str, str], Link] = {}
        self._dialers: dict[PathSpec, asyncio.Task[None]] = {}
        self._paths: tuple[PathSpec, ...] = ()
        self._closing = False

    # -- configuration -----------------------------------------------------------------

    def set_paths(self, paths: Sequence[PathSpec]) -> None:
        """The heartbeat paths of the current configuration; dial those we own."""
        self._paths = tuple(paths)
        wanted = {p for p in paths if self._node < p.peer}
        for spec, task in list(self._dialers.items()):
            if spec not in wanted:
                task.cancel()
                del self._dialers[spec]
        for spec in wanted - set(self._dialers):
            self._dialers[spec] = asyncio.create_task(self._dial(spec), name=f"hb {spec.peer}")

    # -- sending -----------------------------------------------------------------------

    def send(self, peer: str, message: Message) -> int:
        """Queue `message` on every live path to `peer`; returns how many took it."""
        frame = pb.HeartbeatFrame(message=encode(message))
        return sum(1 for (p, _), link in list(self._links.items()) if p == peer and link.put(frame))

    def renew(self, credentials: Credentials) -> None:
        """Dial with a new certificate from the next connection on; streams made with
        the old one go on until the peers refuse it (its revocation)."""
        self._credentials = credentials

    def drop(self, keep: Callable[[str, bytes], bool], why: str) -> None:
        """End every stream whose peer (name, certificate) `keep` no longer accepts: a
        node taken out of the configuration, a certificate revoked since it connected."""
        for link in list(self._links.values()):
            if not keep(link.peer, link.certificate):
                log.warning("closing the heartbeat of %s on %s: %s", link.peer, link.network, why)
                link.put(pb.HeartbeatFrame(goodbye=pb.Goodbye(reason=why)))
                link.put(None)

    def status(self) -> list[LinkStatus]:
        now = time.monotonic()
        rows = []
        for spec in self._paths:
            link = self._links.get((spec.peer, spec.network))
            rows.append(
                LinkStatus(
                    spec.peer,
                    spec.network,
                    spec.remote,
                    link is not None,
                    now - link.last_frame if link else -1.0,
                )
            )
        return rows

    # -- both ends ---------------------------------------------------------------------

    def _hello(self, network: str) -> pb.HeartbeatFrame:
        return pb.HeartbeatFrame(
            hello=pb.HeartbeatHello(
                node_name=self._node,
                cluster_name=self._cluster_name(),
                config_generation=self._generation(),
                path=network,
            )
        )

    def _check_hello(self, frame: pb.HeartbeatFrame, peer: str) -> pb.HeartbeatHello:
        if frame.WhichOneof("frame") != "hello":
            raise ProtocolError("frame", "a heartbeat stream must start with a hello")
        hello = frame.hello
        if not _NETWORK.fullmatch(hello.path):
            raise ProtocolError(
                "hello.path", "not a heartbeat network (a subnet such as 198.18.1.0/24)"
            )
        if hello.node_name != peer:
            raise ProtocolError(
                "hello.node_name", f"says {hello.node_name!r}, certificate says {peer!r}"
            )
        ours = self._cluster_name()
        if hello.cluster_name != ours:
            raise ProtocolError(
                "hello.cluster_name",
                f"node {peer} is configured for cluster {hello.cluster_name!r}, this node "
                f"for {ours!r}",
            )
        self._on_generation(peer, hello.config_generation)
        return hello

    def _register(self, link: Link) -> None:
        key = (link.peer, link.network)
        old = self._links.get(key)
        if old is not None and old is not link:
            old.put(None)  # a reconnect replaces the previous stream of this path
        self._links[key] = link
        count = self._stats.add(STREAMS_OPENED)
        log.info(
            "heartbeat path to %s on %s up (%s, stream %d since start)",
            link.peer,
            link.network,
            "dialled" if link.dialed else "accepted",
            count,
        )

    def _unregister(self, link: Link, why: str) -> None:
        key = (link.peer, link.network)
        if self._links.get(key) is link:
            del self._links[key]
            log.info("heartbeat path to %s on %s down: %s", link.peer, link.network, why)

    def _receive(self, link: Link, frame: pb.HeartbeatFrame) -> bool:
        """Handle one frame; False when the stream should end (goodbye)."""
        link.last_frame = time.monotonic()
        kind = frame.WhichOneof("frame")
        if kind == "message":
            self._decode_and_deliver(link, frame.message)
        elif kind == "batch":
            for item in frame.batch.messages:
                self._decode_and_deliver(link, item)
        elif kind == "goodbye":
            log.info(
                "%s closed its heartbeat on %s: %s",
                link.peer,
                link.network,
                frame.goodbye.reason or "no reason given",
            )
            return False
        elif kind == "hello":
            self._on_generation(link.peer, frame.hello.config_generation)
        return True

    def _decode_and_deliver(self, link: Link, item: pb.ProtocolMessage) -> None:
        try:
            message = decode(item)
        except ProtocolError as exc:
            count = self._stats.add(PROTOCOL_ERRORS)
            log.warning("malformed message from %s (%d since start): %s", link.peer, count, exc)
            return
        self._deliver(link.peer, message)

    @staticmethod
    async def _outgoing(link: Link) -> AsyncIterator[pb.HeartbeatFrame]:
        """Frames for the stream, one at a time while it keeps up; messages that queued
        meanwhile leave as one batch (each write costs far more than its size)."""
        while True:
            frame = await link.queue.get()
            if frame is None:
                return
            if frame.WhichOneof("frame") != "message" or link.queue.empty():
                yield frame
                continue
            batch = pb.HeartbeatFrame(batch=pb.ProtocolBatch(messages=[frame.message]))
            held: pb.HeartbeatFrame | None = None
            end = False
            while not link.queue.empty() and len(batch.batch.messages) < BATCH_LIMIT:
                more = link.queue.get_nowait()
                if more is None:
                    end = True
                    break
                if more.WhichOneof("frame") != "message":
                    held = more
                    break
                batch.batch.messages.append(more.message)
            yield batch
            if held is not None:
                yield held
            if end:
                return

    # -- dialling side -------------------------------------------------------------------

    async def _dial(self, spec: PathSpec) -> None:
        backoff = MIN_BACKOFF
        target = (
            f"[{spec.remote}]:{self.port}" if ":" in spec.remote else f"{spec.remote}:{self.port}"
        )
        options = [*PEER_CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", spec.peer)]
        while not self._closing:
            link = Link(spec.peer, spec.network, dialed=True, remote=spec.remote)
            why = "closed"
            async with aio.secure_channel(
                target, channel_credentials(self._credentials), options=options
            ) as channel:
                call = services_pb2_grpc.NodeStub(channel).Heartbeat(self._outgoing(link))
                link.put(self._hello(spec.network))
                try:
                    first = await call.read()
                    if not isinstance(first, pb.HeartbeatFrame):  # aio.EOF
                        raise ConnectionError("closed before its hello")
                    self._check_hello(first, spec.peer)
                    self._register(link)
                    backoff = MIN_BACKOFF
                    while True:  # read() only: grpc-aio refuses it mixed with `async for`
                        frame = await call.read()
                        if not isinstance(frame, pb.HeartbeatFrame):
                            break  # the peer closed the stream
                        if not self._receive(link, frame):
                            break
                except aio.AioRpcError as err:
                    why = f"{err.code().name}: {err.details()}"
                except (ProtocolError, ConnectionError) as exc:
                    why = str(exc)
                    count = self._stats.add(PROTOCOL_ERRORS)
                    log.warning(
                        "heartbeat to %s on %s refused (%d): %s",
                        spec.peer,
                        spec.network,
                        count,
                        why,
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Never let a path die for good: log, back off, dial again.
                    why = f"unexpected {type(exc).__name__}: {exc}"
                    log.exception("heartbeat to %s on %s failed", spec.peer, spec.network)
                finally:
                    link.put(None)
                    call.cancel()
                    self._unregister(link, why)
            if self._closing:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    # -- accepting side ------------------------------------------------------------------

    async def serve(
        self,
        requests: AsyncIterator[pb.HeartbeatFrame],
        context: aio.ServicerContext[Any, Any],
        peer: str,
        certificate: bytes = b"",
    ) -> AsyncIterator[pb.HeartbeatFrame]:
        """The server end of a stream dialled by `peer` (its certificate's node name;
        `certificate` its leaf, to check again when revocations change)."""
        try:
            first = await anext(requests)
            hello = self._check_hello(first, peer)
        except StopAsyncIteration:
            return
        except ProtocolError as exc:
            self._stats.add(PROTOCOL_ERRORS)
            log.warning("refused heartbeat from %s: %s", peer, exc)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            return
        link = Link(peer, hello.path, dialed=False, certificate=certificate)
        self._register(link)
        reader = asyncio.create_task(self._read(link, requests))
        try:
            yield self._hello(hello.path)
            async for frame in self._outgoing(link):
                yield frame
        finally:
            reader.cancel()
            self._unregister(link, "stream ended")

    async def _read(self, link: Link, requests: AsyncIterator[pb.HeartbeatFrame]) -> None:
        try:
            async for frame in requests:
                if not self._receive(link, frame):
                    break
        except (aio.AioRpcError, asyncio.CancelledError):
            pass
        except RequestRefused as refused:  # a frame too large or unparsable: the call ends
            count = self._stats.add(PROTOCOL_ERRORS)
            log.warning(
                "heartbeat from %s on %s refused (%d): %s", link.peer, link.network, count, refused
            )
        except Exception:
            log.exception("heartbeat from %s on %s failed", link.peer, link.network)
        finally:
            link.put(None)

    # -- shutdown ----------------------------------------------------------------------

    async def close(self, reason: str, leaving: bool) -> None:
        """Say goodbye on every stream, then stop dialling."""
        self._closing = True
        bye = pb.HeartbeatFrame(goodbye=pb.Goodbye(reason=reason, leaving_cluster=leaving))
        for link in list(self._links.values()):
            link.put(bye)
            link.put(None)
        await asyncio.sleep(0.05)  # let the goodbyes leave
        for task in self._dialers.values():
            task.cancel()
        await asyncio.gather(*self._dialers.values(), return_exceptions=True)
        self._dialers.clear()
