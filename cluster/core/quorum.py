"""The quorum server's core: a Paxos acceptor and ping answerer per cluster, sans-IO.

`cmqsd` (and the simulator) drive it like a node's core: events in, effects out, the
same rule that a reply revealing state waits for that state's persist. The quorum
server knows nothing of memberships beyond what messages tell it: it is one more
acceptor (asked only when a membership is even), and it stops granting a cluster's
pings of epoch e once it promised anything for epoch e+1, exactly like a member.

An acceptor must never forget (DESIGN §2). A quorum server's state file can be lost or
restored from an old copy, so every run of cmqsd proves its state current before it
votes, per cluster:

- its state has a lineage: a random state id new at every start, a version grown by
  every persist, and the (state id, last version) of the states it continues;
- every message tells it the newest state its sender saw (`known`); a state that is not
  in its lineage, or newer than it, means this state lost what that node saw: the
  cluster is marked lost (persisted) and refused every vote until an operator resets it;
- it votes for epoch E (a grant of an epoch E-1 ping, a promise or acceptance for E)
  only once every member of epoch E-1 has pinged this run with nothing to it still
  unanswered (`pending`), so what each reported covers every answer it may yet count.

`judge` is the nodes' half of the rule: which answers a node may count.
"""

from dataclasses import dataclass, field, replace
from enum import Enum
from random import Random

from cluster.core.effects import (
    Effect,
    Note,
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
    QsState,
    QuorumPing,
    QuorumPong,
)
from cluster.core.outbox import Outbox
from cluster.core.paxos import AcceptorState

MAX_ANCESTORS = 64
"""States a lineage remembers: a node silent through more restarts of cmqsd than this
is taken for one that saw a lost state (a false alarm an operator clears, never a
missed loss)."""


class Verdict(Enum):
    """What a node makes of a quorum-server answer, against the state it knows."""

    COUNT = "count"  # the same state or one continuing it
    RESET = "reset"  # an operator reset it: count it only for epochs after ours
    STALE = "stale"  # an older answer (reordered, or from a run that has ended)
    FORK = "fork"  # neither continues the other: some state was lost


def judge(known: QsState | None, answer: QsState) -> Verdict:
    """May a node that saw `known` count an answer given from `answer`?"""
    if known is None:
        return Verdict.RESET if answer.reset else Verdict.COUNT
    if answer.reset != known.reset:
        return Verdict.RESET if answer.reset > known.reset else Verdict.STALE
    if answer.state_id == known.state_id:
        return Verdict.COUNT if answer.version >= known.version else Verdict.STALE
    continued = dict(answer.ancestors).get(known.state_id)
    if continued is not None:
        return Verdict.COUNT if known.version <= continued else Verdict.FORK
    earlier = dict(known.ancestors).get(answer.state_id)
    if earlier is not None and answer.version <= earlier:
        return Verdict.STALE
    return Verdict.FORK


def lineage_problem(state: QsState, known: QsState) -> str | None:
    """Why `state` (this quorum server's) cannot be current for a node that saw `known`."""
    if known.reset < state.reset:
        return None  # seen before the operator's reset: the node adopts the new state
    if known.reset > state.reset:
        return f"it saw reset {known.reset} of this cluster, this state knows of {state.reset}"
    if known.state_id == state.state_id:
        if known.version > state.version:
            return (
                f"it saw version {known.version} of state {known.state_id}, this is {state.version}"
            )
        return None
    last = dict(state.ancestors).get(known.state_id)
    if last is None:
        return f"it saw state {known.state_id}, not one this state continues"
    if known.version > last:
        return f"it saw version {known.version} of state {known.state_id}, this continues {last}"
    return None


@dataclass
class _Cluster:
    acceptor: AcceptorState
    decided: Membership
    qs: QsState
    lost: str = ""
    floor: int = 0
    seen: set[str] = field(default_factory=set)
    last_granted: dict[str, int] = field(default_factory=dict)
    # Nodes that pinged this run with nothing pending: their reports were all checked.
    heard: set[str] = field(default_factory=set)


class QuorumServer:
    """Serves any number of clusters, each keyed by its name. `rng` makes state ids;
    each run must draw different ones (the daemon passes SystemRandom)."""

    def __init__(self, now: int, durable: QuorumDurable | None, rng: Random) -> None:
        self.boot_time = now
        self.rng = rng
        self.clusters: dict[str, _Cluster] = {}
        self.outbox = Outbox(QUORUM_SERVER)
        # Each cluster's state as on disk: what a ping's answer (never held) may show.
        self._durable_qs: dict[str, QsState] = {}
        self._writing: list[tuple[int, dict[str, QsState]]] = []
        for slot in durable.slots if durable else ():
            qs = self._continue(slot.qs)
            cluster = _Cluster(slot.acceptor, slot.decided, qs, slot.lost, slot.floor)
            cluster.seen = set(slot.seen)
            self.clusters[slot.cluster_name] = cluster
        if self.clusters:
            self._persist()  # the new state ids, before any answer reveals one

    def start(self) -> list[Effect]:
        """Effects of starting: the persist of this run's state ids."""
        return self.outbox.take()

    def handle(self, event: Received | Persisted | Tick) -> list[Effect]:
        if isinstance(event, Received):
            self._on_message(event.sender, event.message, event.now)
        elif isinstance(event, Persisted):
            self.outbox.persisted(event.seq)
            while self._writing and self._writing[0][0] <= event.seq:
                self._durable_qs.update(self._writing.pop(0)[1])
        return self.outbox.take()

    def reset(self, name: str) -> list[Effect]:
        """The operator's reset: a blank acceptor under a reset state, whatever this
        server had or lost. Nodes that see it count no vote of it for the epoch open
        when they learn of it (their `qs_floor`), so a promise forgotten in that epoch
        cannot be contradicted."""
        old = self.clusters.get(name)
        version = old.qs.version + 1 if old else 1
        resets = old.qs.reset + 1 if old else 1
        qs = QsState(self._new_id(), version, resets)
        self.clusters[name] = _Cluster(AcceptorState(1), NEVER_FORMED, qs)
        self._persist()
        self.outbox.emit(Note(f"cluster {name}: reset by the operator (state {qs.state_id})"))
        return self.outbox.take()

    def slot(self, name: str) -> QuorumSlot | None:
        cluster = self.clusters.get(name)
        if cluster is None:
            return None
        return _slot(name, cluster)

    # ---------------------------------------------------------------------- state

    def _new_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _continue(self, qs: QsState | None) -> QsState:
        """This run's state, continuing `qs` (None: a slot of an older cmqsd)."""
        if qs is None:
            return QsState(self._new_id(), 1)
        ancestors = (*qs.ancestors, (qs.state_id, qs.version))[-MAX_ANCESTORS:]
        return QsState(self._new_id(), qs.version + 1, qs.reset, ancestors)

    def _durable(self) -> QuorumDurable:
        return QuorumDurable(tuple(_slot(name, c) for name, c in sorted(self.clusters.items())))

    def _persist(self, changed: _Cluster | None = None) -> None:
        if changed is not None:
            changed.qs = replace(changed.qs, version=changed.qs.version + 1)
        self.outbox.persist(self._durable())
        states = {name: c.qs for name, c in self.clusters.items()}
        self._writing.append((self.outbox.last_seq, states))

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
            self._persist(cluster)

    # ------------------------------------------------------------------ the check

    def _admit(self, sender: str, name: str, known: QsState | None) -> _Cluster:
        """The cluster's slot after checking what `sender` saw of this server's state."""
        cluster = self.clusters.get(name)
        if cluster is None:
            qs = QsState(self._new_id(), 1)
            cluster = self.clusters[name] = _Cluster(AcceptorState(1), NEVER_FORMED, qs)
            if known is not None:
                cluster.lost = (
                    f"state lost: this quorum server had no state for the cluster, {sender} "
                    f"saw state {known.state_id} version {known.version}"
                )
                self._say_lost(name, cluster.lost)
            self._persist(cluster)
            return cluster
        if cluster.lost:
            return cluster
        problem = lineage_problem(cluster.qs, known) if known is not None else None
        if problem is not None:
            cluster.lost = f"state lost or rolled back: {sender} {problem}"
            self._persist(cluster)
            self._say_lost(name, cluster.lost)
        return cluster

    def _say_lost(self, name: str, why: str) -> None:
        self.outbox.emit(
            Note(
                f"cluster {name}: STATE LOST, no vote until reset (cmqsd --reset-cluster "
                f"{name}): {why}"
            )
        )

    def _refusal(self, cluster: _Cluster, epoch: int, voters: tuple[str, ...] | None) -> str:
        """Why this server may not vote for `epoch`, after the membership `voters`."""
        if cluster.lost:
            return f"state lost, no vote until cmqsd --reset-cluster: {cluster.lost}"
        if not voters:
            return "not an acceptor of this epoch"
        if epoch <= cluster.floor:
            return f"reset by the operator: no vote before epoch {cluster.floor + 1}"
        missing = sorted(set(voters) - cluster.heard)
        if missing:
            return f"not yet heard since it started from {', '.join(missing)}"
        return ""

    # ------------------------------------------------------------------ messages

    def _on_message(self, sender: str, message: Message, now: int) -> None:
        if not isinstance(message, QuorumPing | Prepare | Accept | Learn):
            return
        cluster = self._admit(sender, message.cluster_name, message.known)
        if cluster.qs.reset and not cluster.lost and sender not in cluster.seen:
            # Its first word since the reset: whatever it may have relied on of the
            # state before is for the epoch after its decided one, at most.
            if isinstance(message, QuorumPing):
                decided = message.epoch
            elif isinstance(message, Learn):
                decided = message.decided.epoch
            else:
                decided = message.epoch - 1
            cluster.seen.add(sender)
            cluster.floor = max(cluster.floor, decided + 1)
            self._persist(cluster)
        if isinstance(message, QuorumPing):
            self._on_ping(sender, cluster, message, now)
        elif isinstance(message, Prepare):
            self._on_prepare(sender, cluster, message, now)
        elif isinstance(message, Accept):
            self._on_accept(sender, cluster, message)
        elif not cluster.lost:
            self._update(cluster, cluster.acceptor, message.decided)

    def _on_ping(self, sender: str, cluster: _Cluster, ping: QuorumPing, now: int) -> None:
        if not cluster.lost and not ping.pending and sender in ping.members:
            cluster.heard.add(sender)
        voters = ping.members if sender in ping.members else None
        refusal = self._refusal(cluster, ping.epoch + 1, voters)
        shown = self._durable_qs.get(ping.cluster_name)
        if shown is None:  # this run's state id is not on disk yet: show it, vote later
            pong = QuorumPong(ping.epoch, ping.seq, ping.send_time, False, cluster.qs, refusal)
            self.outbox.after_persist(Send(sender, pong))
            return
        # A ping's answer goes at once, as a member's does, showing the state on disk.
        granted = not refusal and cluster.acceptor.grants(ping.epoch)
        if granted:
            cluster.last_granted[sender] = now
        pong = QuorumPong(ping.epoch, ping.seq, ping.send_time, granted, shown, refusal)
        self.outbox.emit(Send(sender, pong))

    @staticmethod
    def _voters(epoch: int, previous: Membership) -> tuple[str, ...] | None:
        return previous.members if previous.epoch == epoch - 1 else None

    def _on_prepare(self, sender: str, cluster: _Cluster, msg: Prepare, now: int) -> None:
        refusal = self._refusal(cluster, msg.epoch, self._voters(msg.epoch, msg.previous))
        promised = False
        state = cluster.acceptor
        if not cluster.lost:
            decided = max(cluster.decided, msg.previous, key=lambda m: m.epoch)
            state = cluster.acceptor.at(max(msg.epoch, decided.epoch + 1))
            if msg.epoch == state.epoch and not refusal:
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
            qs=cluster.qs,
            refusal=refusal,
        )
        self.outbox.after_persist(Send(sender, reply))

    def _on_accept(self, sender: str, cluster: _Cluster, msg: Accept) -> None:
        refusal = self._refusal(cluster, msg.epoch, self._voters(msg.epoch, msg.previous))
        accepted = False
        if not cluster.lost:
            decided = max(cluster.decided, msg.previous, key=lambda m: m.epoch)
            state = cluster.acceptor.at(max(msg.epoch, decided.epoch + 1))
            if msg.epoch == state.epoch and not refusal:
                state, accepted = state.accept(msg.ballot, msg.value)
            self._update(cluster, state, decided)
        reply = AcceptReply(
            epoch=msg.epoch,
            ballot=msg.ballot,
            accepted=accepted,
            promised_ballot=cluster.acceptor.promised,
            last_decided=cluster.decided,
            qs=cluster.qs,
            refusal=refusal,
        )
        self.outbox.after_persist(Send(sender, reply))


def _slot(name: str, c: _Cluster) -> QuorumSlot:
    return QuorumSlot(name, c.acceptor, c.decided, c.qs, c.lost, c.floor, tuple(sorted(c.seen)))
