"""The quorum server's core: a Paxos acceptor and ping answerer per cluster, sans-IO.

`cmqsd` (and the simulator) drive it like a node's core: events in, effects out, the
same rule that a reply revealing state waits for that state's persist. The quorum
server knows nothing of memberships beyond what messages tell it: it is one more
acceptor (asked only when a membership is even), and it stops granting a cluster's
pings of epoch e once it promised anything for epoch e+1, exactly like a member.
"""

from dataclasses import dataclass, field

from cluster.core.effects import (
    Effect,
    Persisted,
    QuorumDurable,
    QuorumSlot,
    Received,
    Send,
    Tick,
)
from cluster.core.messages import (
    NEVER_FORMED,
    QUORUM_SERVER,
    Accept,
    AcceptReply,
    Learn,
    Membership,
    Message,
    Prepare,
    PrepareReply,
    QuorumPing,
    QuorumPong,
)
from cluster.core.outbox import Outbox
from cluster.core.paxos import AcceptorState


@dataclass
class _Cluster:
    acceptor: AcceptorState
    decided: Membership
    last_granted: dict[str, int] = field(default_factory=dict)


class QuorumServer:
    """Serves any number of clusters, each keyed by its name."""

    def __init__(self, now: int, durable: QuorumDurable | None = None) -> None:
        self.boot_time = now
        self.clusters: dict[str, _Cluster] = {}
        for slot in durable.slots if durable else ():
            self.clusters[slot.cluster_name] = _Cluster(slot.acceptor, slot.decided)
        self.outbox = Outbox(QUORUM_SERVER)

    def handle(self, event: Received | Persisted | Tick) -> list[Effect]:
        if isinstance(event, Received):
            self._on_message(event.sender, event.message, event.now)
        elif isinstance(event, Persisted):
            self.outbox.persisted(event.seq)
        return self.outbox.take()

    def _cluster(self, name: str) -> _Cluster:
        cluster = self.clusters.get(name)
        if cluster is None:
            cluster = self.clusters[name] = _Cluster(AcceptorState(1), NEVER_FORMED)
        return cluster

    def _persist(self) -> None:
        slots = tuple(
            QuorumSlot(name, c.acceptor, c.decided) for name, c in sorted(self.clusters.items())
        )
        self.outbox.persist(QuorumDurable(slots))

    def _update(self, cluster: _Cluster, acceptor: AcceptorState, decided: Membership) -> None:
        """Adopt a newer decision and acceptor state; persist once if anything changed."""
        changed = False
        if decided.epoch > cluster.decided.epoch:
            cluster.decided = decided
            changed = True
        acceptor = acceptor.at(cluster.decided.epoch + 1)
        if acceptor != cluster.acceptor:
            cluster.acceptor = acceptor
            changed = True
        if changed:
            self._persist()

    def _on_message(self, sender: str, message: Message, now: int) -> None:
        if isinstance(message, QuorumPing):
            cluster = self._cluster(message.cluster_name)
            granted = cluster.acceptor.grants(message.epoch)
            if granted:
                cluster.last_granted[sender] = now
            pong = QuorumPong(message.epoch, message.seq, message.send_time, granted)
            self.outbox.emit(Send(sender, pong))
        elif isinstance(message, Prepare):
            self._on_prepare(sender, message, now)
        elif isinstance(message, Accept):
            self._on_accept(sender, message)
        elif isinstance(message, Learn):
            cluster = self._cluster(message.cluster_name)
            self._update(cluster, cluster.acceptor, message.decided)

    def _on_prepare(self, sender: str, msg: Prepare, now: int) -> None:
        cluster = self._cluster(msg.cluster_name)
        decided = max(cluster.decided, msg.previous, key=lambda m: m.epoch)
        state = cluster.acceptor.at(max(msg.epoch, decided.epoch + 1))
        promised = False
        if msg.epoch == state.epoch:
            state, promised = state.prepare(msg.ballot)
        self._update(cluster, state, decided)
        ages = tuple(sorted((n, now - t) for n, t in cluster.last_granted.items()))
        reply = PrepareReply(
            epoch=msg.epoch,
            ballot=msg.ballot,
            promised=promised,
            acceptor=True,
            promised_ballot=state.promised if msg.epoch == state.epoch else None,
            accepted=state.accepted if promised else None,
            last_decided=cluster.decided,
            view=None,
            last_answered=ages if promised else (),
            unlisted_age=now - self.boot_time,
        )
        self.outbox.after_persist(Send(sender, reply))

    def _on_accept(self, sender: str, msg: Accept) -> None:
        cluster = self._cluster(msg.cluster_name)
        decided = max(cluster.decided, msg.previous, key=lambda m: m.epoch)
        state = cluster.acceptor.at(max(msg.epoch, decided.epoch + 1))
        accepted = False
        if msg.epoch == state.epoch:
            state, accepted = state.accept(msg.ballot, msg.value)
        self._update(cluster, state, decided)
        reply = AcceptReply(
            epoch=msg.epoch,
            ballot=msg.ballot,
            accepted=accepted,
            promised_ballot=cluster.acceptor.promised,
            last_decided=cluster.decided,
        )
        self.outbox.after_persist(Send(sender, reply))
