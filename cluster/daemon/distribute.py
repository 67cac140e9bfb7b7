"""Distributing a configuration to every node, all or nothing, and catching up.

Apply (cmapplyconf, cmdeleteconf), run by the cmcld of the node the command runs on:

1. Stage: every node of the old and the new configuration checks that it is still on
   the generation the change was based on and keeps the new blob durably. If any node
   cannot stage, every staged copy is aborted and nothing changed anywhere.
2. Commit here first. This durable write is the decision: from then on, any node that
   has the new generation proves the change was decided.
3. Commit on the others. A node that misses its commit (killed, partitioned) catches
   up later: nodes fetch from their peers and the newest generation wins (digest
   checked). Since staging needs every node, no second change can be decided while a
   node still lacks the first, so the newest generation is always the decided one.

The apply runs as its own task: a command killed half-way does not stop it half-way.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence

from cluster.config.compile import decode_config, make_blob
from cluster.config.model import Config
from cluster.daemon.configstore import ConfigStore, is_tombstone, tombstone
from cluster.daemon.failpoints import failpoint
from cluster.errors import CmError
from cluster.pb.v1 import config_pb2 as pb
from cluster.transport.peers import PeerDialer

log = logging.getLogger("cmcld.config")

STAGE_TIMEOUT = 10.0
COMMIT_TIMEOUT = 10.0
FETCH_TIMEOUT = 5.0


def node_addresses(node: str, *configs: Config | None) -> list[str]:
    """Where to reach `node`: its heartbeat then stationary addresses from the first
    configuration that names it, else its name (through the resolver)."""
    for config in configs:
        if config is None:
            continue
        entry = config.cluster.node(node)
        if entry is not None and entry.ips:
            ordered = dict.fromkeys((*entry.heartbeat_ips, *entry.ips))
            return [ip.split("/")[0] for ip in ordered]
    return [node]


class Distributor:
    def __init__(
        self,
        node: str,
        store: ConfigStore,
        peers: PeerDialer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._node = node
        self._store = store
        self._peers = peers
        self._clock = clock
        self._lock = asyncio.Lock()  # one change or catch-up at a time on this node

    def targets(self, new: Config | None) -> list[str]:
        names = set(self._store.config.cluster.node_names) if self._store.config else set()
        if new is not None:
            names |= set(new.cluster.node_names)
        return sorted(names)

    async def apply(self, new: Config | None, applied_by: str) -> AsyncIterator[str]:
        """Distribute `new` (None: delete the configuration); yields progress lines and
        raises CmError when nothing was changed."""
        async with self._lock:
            targets = self.targets(new)
            if self._node not in targets:
                raise CmError(
                    f"this node ({self._node}) is not in the cluster configuration: run the "
                    "command on one of its nodes"
                )
            generation = self._store.generation + 1
            now_ms = int(self._clock() * 1000)
            if new is None:
                blob = tombstone(generation, applied_by, now_ms)
            else:
                blob = make_blob(new, generation, applied_by, now_ms)
            transaction = secrets.token_hex(8)
            old = self._store.config
            yield f"Staging generation {generation} on {len(targets)} node(s): {', '.join(targets)}"
            request = pb.StageConfigRequest(
                transaction=transaction,
                expected_generation=self._store.generation,
                blob=blob,
                coordinator=self._node,
            )
            results = await asyncio.gather(
                *(self._stage(node, request, old, new) for node in targets)
            )
            failed = [(node, why) for node, why in zip(targets, results, strict=True) if why]
            if failed:
                staged = [n for n, why in zip(targets, results, strict=True) if not why]
                await self._abort(staged, transaction, old, new)
                reasons = "; ".join(f"{node}: {why}" for node, why in failed)
                raise CmError(f"not applied, nothing was changed: {reasons}")
            await failpoint("config.before-commit")
            self._store.commit(transaction, generation)
            log.info("configuration generation %d committed here (by %s)", generation, applied_by)
            yield f"Committed generation {generation} on {self._node}"
            others = [n for n in targets if n != self._node]
            commits = await asyncio.gather(
                *(self._commit(node, transaction, generation, old, new) for node in others)
            )
            for node, why in zip(others, commits, strict=True):
                if why:
                    log.warning("node %s did not confirm generation %d: %s", node, generation, why)
                    yield f"Node {node} did not confirm ({why}); it catches up when reachable"
                else:
                    yield f"Committed generation {generation} on {node}"

    async def _stage(
        self, node: str, request: pb.StageConfigRequest, old: Config | None, new: Config | None
    ) -> str:
        try:
            if node == self._node:
                self._store.stage(
                    request.transaction, self._node, request.expected_generation, request.blob
                )
            else:
                await self._peers.call(
                    node, node_addresses(node, new, old), "StageConfig", request, STAGE_TIMEOUT
                )
        except CmError as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot write the staged configuration: {exc.strerror or exc}"
        return ""

    async def _abort(
        self, nodes: Sequence[str], transaction: str, old: Config | None, new: Config | None
    ) -> None:
        async def one(node: str) -> None:
            if node == self._node:
                self._store.abort(transaction)
                return
            try:
                await self._peers.call(
                    node,
                    node_addresses(node, new, old),
                    "AbortConfig",
                    pb.AbortConfigRequest(transaction=transaction),
                    STAGE_TIMEOUT,
                )
            except CmError as exc:
                # Harmless: a staged copy is never committed without this node's word,
                # and the next change replaces it.
                log.warning("could not abort on %s: %s", node, exc)

        await asyncio.gather(*(one(node) for node in nodes))

    async def _commit(
        self, node: str, transaction: str, generation: int, old: Config | None, new: Config | None
    ) -> str:
        try:
            await self._peers.call(
                node,
                node_addresses(node, new, old),
                "CommitConfig",
                pb.CommitConfigRequest(transaction=transaction, generation=generation),
                COMMIT_TIMEOUT,
            )
        except CmError as exc:
            return str(exc)
        return ""

    async def catch_up(self) -> bool:
        """Ask the known nodes for a newer configuration and take the newest one.

        The nodes are those of the applied and of any staged configuration (a node
        killed between stage and commit knows its peers from the staged one)."""
        async with self._lock:
            configs = [self._store.config]
            if self._store.staged is not None:
                blob = self._store.staged.blob
                if not is_tombstone(blob):
                    configs.append(decode_config(blob, "staged configuration"))
            names = sorted(
                {n for c in configs if c is not None for n in c.cluster.node_names} - {self._node}
            )
            if not names:
                return False
            request = pb.FetchConfigRequest(newer_than=self._store.generation)

            async def fetch(node: str) -> pb.ConfigBlob | None:
                try:
                    reply = await self._peers.call(
                        node, node_addresses(node, *configs), "FetchConfig", request, FETCH_TIMEOUT
                    )
                except CmError:
                    return None
                return reply.blob if reply.HasField("blob") else None

            blobs = [b for b in await asyncio.gather(*(fetch(n) for n in names)) if b is not None]
            if not blobs:
                return False
            newest = max(blobs, key=lambda b: b.generation)
            before = self._store.generation
            try:
                taken = self._store.adopt(newest)
            except CmError as exc:
                log.error("refused a fetched configuration: %s", exc)
                return False
            if taken:
                log.warning(
                    "caught up: configuration generation %d -> %d (applied by %s)",
                    before,
                    newest.generation,
                    newest.applied_by or "unknown",
                )
            return taken
