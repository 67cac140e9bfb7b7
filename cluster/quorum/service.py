"""The quorum server's state: the core acceptor per cluster, its persistence, and who
may speak for each cluster.

A cluster name is bound to the CA of the first node that speaks for it, to the cluster
id its configuration carries (created by the first cmapplyconf of the cluster: a
cluster created again under the same name and CA has another one), and to the
configuration that node presents (generation and nodes); the binding is kept on disk.
From then on only a node of the newest configuration the quorum server knows for the
cluster is answered: a node of another cluster (another CA) with the same name, or a
CA-signed certificate of a node outside the configuration, is refused instead of
voting in the cluster's memberships. A newer configuration is taken only from a node
of the one known (the nodes announce a new generation as soon as they apply it), and
only if it names that node. Ballots must be the caller's own and within reason.

`cmqsd --reset-cluster NAME` (with cmqsd stopped) forgets a cluster: its binding and
its state, lost or not; the next node to speak binds it again (`reset_cluster`).
"""

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cluster.atomicfile import write_atomic
from cluster.core.effects import Effect, Note, Persist, Persisted, QuorumDurable, Received, Send
from cluster.core.messages import Accept, Message, Prepare
from cluster.core.quorum import QuorumServer
from cluster.daemon import durable
from cluster.errors import CmError, FieldError, NotAuthorized
from cluster.transport.quorum import Roster

log = logging.getLogger("cmqsd")

MAX_ROUND = 1 << 32  # a proposer's round grows by one per attempt of one epoch


@dataclass(frozen=True)
class Binding:
    """Who may speak for a cluster: its CA, and the newest configuration known."""

    ca: str
    generation: int = 0
    nodes: tuple[str, ...] | None = None  # None: bound before rosters (older cmqsd)
    cluster_id: str = ""  # "": bound before cluster ids, or by a node of an older cmcld

    def to_json(self) -> dict[str, object]:
        return {
            "ca": self.ca,
            "generation": self.generation,
            "nodes": self.nodes,
            "cluster_id": self.cluster_id,
        }

    @classmethod
    def from_json(cls, value: object) -> "Binding":
        if isinstance(value, str):  # the form an older cmqsd wrote: the CA alone
            return cls(value)
        if not isinstance(value, dict):
            raise ValueError("a binding is an object")
        nodes = value.get("nodes")
        return cls(
            str(value["ca"]),
            int(value.get("generation", 0)),
            None if nodes is None else tuple(str(n) for n in nodes),
            str(value.get("cluster_id") or ""),
        )


def admit(cluster: str, bound: Binding | None, node: str, ca: str, roster: Roster) -> Binding:
    """The cluster's binding after a message from `node` (certificate of CA `ca`)
    presenting `roster`; raises NotAuthorized when `node` may not speak for it."""
    if node not in roster.nodes:
        raise NotAuthorized(
            f"node {node} presents configuration generation {roster.generation} of cluster "
            f"{cluster}, which does not name it"
        )
    if bound is None or bound.nodes is None:
        if bound is not None and bound.ca != ca:
            raise _other_ca(cluster)
        return Binding(ca, roster.generation, roster.nodes, roster.cluster_id)
    if bound.ca != ca:
        raise _other_ca(cluster)
    if bound.cluster_id and roster.cluster_id and roster.cluster_id != bound.cluster_id:
        raise NotAuthorized(
            f"cluster {cluster} was created again: node {node} presents cluster id "
            f"{roster.cluster_id}, this quorum server serves id {bound.cluster_id}; if the "
            f"old cluster is gone, run cmqsd --reset-cluster {cluster} on the quorum server"
        )
    if node not in bound.nodes:
        raise NotAuthorized(
            f"node {node} is not a node of cluster {cluster} (configuration generation "
            f"{bound.generation} as this quorum server knows it: {', '.join(bound.nodes)})"
        )
    cluster_id = bound.cluster_id or roster.cluster_id  # bound by an older cmcld: taken now
    if roster.generation > bound.generation:
        return Binding(ca, roster.generation, roster.nodes, cluster_id)
    return replace(bound, cluster_id=cluster_id)


def _other_ca(cluster: str) -> NotAuthorized:
    return NotAuthorized(
        f"cluster {cluster} belongs to another CA on this quorum server: a node of a "
        "different cluster uses the same cluster name"
    )


def _check_ballots(node: str, roster: Roster, message: Message) -> None:
    """A ballot is its proposer's own (a node proposes only for itself) and its round
    one a proposer can reach; a proposed membership holds configured nodes only."""
    if isinstance(message, Prepare | Accept):
        if message.ballot.proposer != node:
            raise NotAuthorized(
                f"node {node} sent a ballot of {message.ballot.proposer or 'nobody'}: a node "
                "proposes only its own ballots"
            )
        if message.ballot.round > MAX_ROUND:
            raise FieldError("ballot.round", f"{message.ballot.round} is beyond any proposer's")
    if isinstance(message, Accept):
        strangers = [n for n in message.value.members if n not in roster.nodes]
        if strangers:
            raise FieldError(
                "accept.value", f"names {', '.join(strangers)}, not nodes of the configuration"
            )


class QuorumService:
    """Start it holding cmqsd's pid lock: it writes its state file at once (this run's
    state ids must be durable before any answer shows one)."""

    def __init__(self, state_file: Path, bindings_file: Path) -> None:
        self._state_file = state_file
        self._bindings_file = bindings_file
        # The first cluster may be bound before any promise is kept: both files need it.
        bindings_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        state = durable.load(state_file)
        if state is not None and not isinstance(state, QuorumDurable):
            raise CmError(f"{state_file}: holds a node's state, not a quorum server's")
        self._core = QuorumServer(time.monotonic_ns(), state, random.SystemRandom())
        self._perform(self._core.start())
        self._bindings: dict[str, Binding] = self._load_bindings()
        self._lock = asyncio.Lock()
        self.last_contact: dict[str, float] = {}

    def _perform(self, effects: list[Effect]) -> None:
        """Effects outside a request (start, reset): persists done at once, notes logged."""
        pending = list(effects)
        while pending:
            effect = pending.pop(0)
            if isinstance(effect, Persist):
                assert isinstance(effect.state, QuorumDurable)
                durable.save(self._state_file, effect.state)
                pending.extend(self._core.handle(Persisted(time.monotonic_ns(), effect.seq)))
            elif isinstance(effect, Note):
                log.warning("%s", effect.text)

    def lost(self) -> dict[str, str]:
        """Clusters this quorum server refuses to vote for, and why."""
        slots = {name: self._core.slot(name) for name in self._core.clusters}
        return {name: s.lost for name, s in slots.items() if s is not None and s.lost}

    def reset_cluster(self, name: str) -> str:
        """The operator's reset of `name`: a fresh state (the nodes count no vote of it
        for the epoch open when they see it) and no binding, so the cluster, or a new
        one created under its name, binds again. Returns what was done, in a sentence."""
        known = name in self._bindings or name in self._core.clusters
        if not known:
            raise CmError(
                f"this quorum server has no cluster {name} (clusters: "
                f"{', '.join(self.clusters()) or 'none'})"
            )
        was = self._core.slot(name)
        bound = self._bindings.pop(name, None)
        self._save_bindings()
        self._perform(self._core.reset(name))
        why = f" (it refused to vote: {was.lost})" if was is not None and was.lost else ""
        ident = f" id {bound.cluster_id}" if bound is not None and bound.cluster_id else ""
        return (
            f"cluster {name}{ident}: state and binding reset{why}; the next node to speak "
            "binds it again, and no node counts this quorum server's vote before its "
            "next epoch is decided"
        )

    def _load_bindings(self) -> dict[str, Binding]:
        try:
            data = json.loads(self._bindings_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CmError(f"{self._bindings_file}: unreadable ({exc})") from None
        try:
            return {str(k): Binding.from_json(v) for k, v in data.items()}
        except (TypeError, ValueError, KeyError) as exc:
            raise CmError(f"{self._bindings_file}: unreadable ({exc})") from None

    def clusters(self) -> list[str]:
        return sorted(self._bindings)

    def _save_bindings(self) -> None:
        data = {k: b.to_json() for k, b in sorted(self._bindings.items())}
        write_atomic(self._bindings_file, json.dumps(data, indent=1).encode(), 0o600)

    def _bind(self, cluster: str, node: str, ca: str, roster: Roster) -> None:
        bound = self._bindings.get(cluster)
        new = admit(cluster, bound, node, ca, roster)
        if new != bound and new.nodes is not None:
            self._bindings[cluster] = new
            self._save_bindings()
            log.info(
                "%s cluster %s: configuration generation %d (%s), from %s; CA %s...",
                "serving" if bound is None else "now serving",
                cluster,
                new.generation,
                ",".join(new.nodes),
                node,
                ca[:23],
            )

    async def exchange(
        self, node: str, ca: str, cluster: str, roster: Roster, message: Message
    ) -> list[Message]:
        """One message from `node` of `cluster`; the quorum server's durable answers."""
        async with self._lock:
            self._bind(cluster, node, ca, roster)
            _check_ballots(node, roster, message)
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
                elif isinstance(effect, Note):
                    log.error("%s", effect.text)
            return replies
