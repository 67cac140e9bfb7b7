"""This node's link to the quorum server (DESIGN.md section 2): the client for the
configured QS_HOST, the core's messages to it and its answers back, the announcement of
a new configuration generation, and Serviceguard's QS_POLLING_INTERVAL probe; whether it
answers, for cmviewcl. The membership driver owns one and feeds the answers to the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from cluster.config.model import Config
from cluster.core import events as alert
from cluster.core.messages import Learn, Membership, Message, QuorumPing
from cluster.core.timing import Timing
from cluster.daemon.configstore import ConfigStore
from cluster.errors import CmError
from cluster.paths import HostPaths
from cluster.security.pem import Credentials
from cluster.transport.quorum import QuorumClient

log = logging.getLogger("cmcld.membership")

QS_ANNOUNCE = 5.0  # seconds to tell the quorum server of a new configuration


class QuorumServerLink:
    def _event(self, kind: alert.Kind, server: str, reason: str) -> None:
        epoch = self._decided().epoch
        self.on_event(alert.Event(kind, node=self.node, epoch=epoch, new=server, reason=reason))

    def __init__(
        self,
        *,
        paths: HostPaths,
        store: ConfigStore,
        credentials: Credentials,
        deliver: Callable[[Message], None],
        decided: Callable[[], Membership],
    ) -> None:
        self._paths = paths
        self._store = store
        self._credentials = credentials
        self._deliver = deliver  # an answer for the core
        self._decided = decided
        self.client: QuorumClient | None = None
        self.last_answer: float | None = None  # monotonic seconds
        self.answering = False  # the last exchange with the quorum server succeeded
        self.on_event: Callable[[alert.Event], None] = lambda event: None  # alert scripts
        self.node = ""  # this node, for the events (set by the membership driver)
        self._said_unreachable = False
        self._announced = 0  # the configuration generation last told to the quorum server
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()  # probe the quorum server at once

    def setup(self, config: Config) -> None:
        """Follow QS_HOST of the configuration the membership runs."""
        host = config.cluster.qs_host
        if self.client is not None and self.client.name == host:
            return
        self.client = None
        if host:
            qs_ca = self._paths.tls_dir / "qs-ca.crt"
            creds = self._credentials
            if qs_ca.exists():  # a quorum server certified by another cluster's CA
                creds = Credentials(creds.certificate, creds.key, qs_ca.read_bytes())
            addresses = [a for a in (host, config.cluster.qs_addr) if a]
            self.client = QuorumClient(creds, host, addresses)
            self.last_answer = None
            self.answering = False
            self._changed.set()
            self._announced = 0
            self.announce()

    def renew(self, credentials: Credentials, config: Config | None) -> None:
        """A new certificate of this node (SIGHUP): a new channel to the quorum server."""
        self._credentials = credentials
        old = self.client
        if old is not None and config is not None:
            self.client = None
            self.setup(config)
            self._spawn(old.close(), "qs-close")

    def announce(self) -> None:
        """Tell the quorum server of a new configuration at once: it takes a newer one
        only from a node of the one it knows, so the nodes that applied it say so
        before a node it adds or a layout it changes needs the quorum server."""
        config = self._store.config
        if self.client is None or config is None or config.cluster.qs_host is None:
            return
        if self._announced == self._store.generation:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet: the first exchange will carry the generation
        self._announced = self._store.generation
        ping = QuorumPing(config.cluster.name, self._decided().epoch, 0, time.monotonic_ns())
        qs, generation, nodes = self.client, self._store.generation, config.cluster.node_names

        async def announce() -> None:
            try:  # the answer is not the core's: it asked nothing
                await qs.exchange(
                    config.cluster.name,
                    generation,
                    nodes,
                    ping,
                    QS_ANNOUNCE,
                    cluster_id=config.cluster_id,
                )
            except CmError as exc:
                self._announced = 0
                log.info("could not tell the quorum server of generation %d: %s", generation, exc)

        self._spawn(announce(), "qs-announce")

    def send(self, message: Message, config: Config | None, timing: Timing | None) -> None:
        if self.client is not None and config is not None:
            self._spawn(self.ask(message, config, timing), "qs-ask")

    async def ask(self, message: Message, config: Config, timing: Timing | None) -> None:
        client = self.client
        if client is None or timing is None:
            return
        # Serviceguard: 0.1 x MEMBER_TIMEOUT for two nodes, else 0.2, plus the extension.
        share = 0.1 if len(config.cluster.nodes) == 2 else 0.2
        timeout = share * timing.member_timeout / 1e9
        timeout += config.cluster.qs_timeout_extension_us / 1e6
        try:
            # The configuration applied here, which may be newer than the one the
            # membership runs: the quorum server admits nodes of the newest it knows.
            applied = self._store.config or config
            replies = await client.exchange(
                config.cluster.name,
                self._store.generation,
                applied.cluster.node_names,
                message,
                timeout,
                cluster_id=applied.cluster_id,
            )
        except CmError as exc:
            if self.answering:
                log.warning("quorum server %s is not responding: %s", client.name, exc)
                self._said_unreachable = True
                self._event(alert.Kind.QUORUM_SERVER_UNREACHABLE, client.name, str(exc))
            else:
                log.debug("quorum server: %s", exc)
            self.answering = False
            return
        if not self.answering:
            log.info("quorum server %s is answering", client.name)
            if self._said_unreachable:
                self._said_unreachable = False
                self._event(alert.Kind.QUORUM_SERVER_BACK, client.name, "answering again")
        self.answering = True
        self.last_answer = time.monotonic()
        for reply in replies:
            self._deliver(reply)

    async def probe(
        self, config: Callable[[], Config | None], timing: Callable[[], Timing | None]
    ) -> None:
        """Serviceguard reports the quorum server's state even while no vote needs it:
        tell it our decided membership every QS_POLLING_INTERVAL (at least 10 s)."""
        while True:
            current = config()
            interval = 10.0
            if current is not None and self.client is not None:
                interval = max(current.cluster.qs_polling_interval_us / 1e6, 10.0)
                await self.ask(Learn(current.cluster.name, self._decided()), current, timing())
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), interval)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
