"""The quorum server's state: the core acceptor per cluster, its persistence, and which
CA each cluster belongs to.

A cluster name is bound to the CA of the first node that speaks for it, and the
binding is kept on disk: a node of another cluster (another CA) that happens to use
the same name is refused instead of voting in a stranger's membership.
"""

import asyncio
import json
import logging
import time
from pathlib import Path

from cluster.atomicfile import write_atomic
from cluster.core.effects import Persist, Persisted, QuorumDurable, Received, Send
from cluster.core.messages import Message
from cluster.core.quorum import QuorumServer
from cluster.daemon import durable
from cluster.errors import CmError, NotAuthorized

log = logging.getLogger("cmqsd")


class QuorumService:
    def __init__(self, state_file: Path, bindings_file: Path) -> None:
        self._state_file = state_file
        self._bindings_file = bindings_file
        # The first cluster may be bound before any promise is kept: both files need it.
        bindings_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        state = durable.load(state_file)
        if state is not None and not isinstance(state, QuorumDurable):
            raise CmError(f"{state_file}: holds a node's state, not a quorum server's")
        self._core = QuorumServer(time.monotonic_ns(), state)
        self._bindings: dict[str, str] = self._load_bindings()
        self._lock = asyncio.Lock()
        self.last_contact: dict[str, float] = {}

    def _load_bindings(self) -> dict[str, str]:
        try:
            data = json.loads(self._bindings_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CmError(f"{self._bindings_file}: unreadable ({exc})") from None
        return {str(k): str(v) for k, v in data.items()}

    def clusters(self) -> list[str]:
        return sorted(self._bindings)

    def _bind(self, cluster: str, ca: str) -> None:
        bound = self._bindings.get(cluster)
        if bound is None:
            self._bindings[cluster] = ca
            data = json.dumps(self._bindings, indent=1, sort_keys=True).encode()
            write_atomic(self._bindings_file, data, 0o600)
            log.info("serving cluster %s (CA %s...)", cluster, ca[:23])
        elif bound != ca:
            raise NotAuthorized(
                f"cluster {cluster} belongs to another CA on this quorum server: a node of a "
                "different cluster uses the same cluster name"
            )

    async def exchange(self, node: str, ca: str, cluster: str, message: Message) -> list[Message]:
        """One message from `node` of `cluster`; the quorum server's durable answers."""
        async with self._lock:
            self._bind(cluster, ca)
            self.last_contact[cluster] = time.monotonic()
            # The core keeps what it knows of senders per cluster, so node names of
            # different clusters never mix; requests are handled one at a time.
            sender = node
            pending = self._core.handle(Received(time.monotonic_ns(), sender, message))
            replies: list[Message] = []
            while pending:
                effect = pending.pop(0)
                if isinstance(effect, Persist):
                    assert isinstance(effect.state, QuorumDurable)
                    await asyncio.to_thread(durable.save, self._state_file, effect.state)
                    pending.extend(self._core.handle(Persisted(time.monotonic_ns(), effect.seq)))
                elif isinstance(effect, Send) and effect.to == sender:
                    replies.append(effect.message)
            return replies
