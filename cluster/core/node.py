"""One node's membership state machine: heartbeats, leases, acceptor, proposer, commands.

Drive it with `handle(event)`; perform the returned effects in order (see
`cluster.core.effects` for the one ordering rule). Construct it at boot with the
durable state found on disk (or None on a node that never ran), then call `start`.

A node is *active* in the membership of its decided epoch when it is a member, wants
to run, and learned that membership during this run of the process: a node that
restarts, loses its lease or is paused past it comes back only through a newer epoch,
so it can never act on an old one.
"""

from dataclasses import replace
from random import Random

from cluster.core.effects import (
    Command,
    CommandDone,
    Durable,
    Effect,
    Event,
    HaltCluster,
    HaltNode,
    LeaseChanged,
    LeaseGained,
    LeaseLost,
    MembershipDecided,
    Note,
    Operator,
    Persisted,
    Received,
    RunCluster,
    RunNode,
    Send,
    TakeoverAllowed,
    Tick,
    WakeAt,
)
from cluster.core.membership import FOREVER, Heartbeats, Lease, LeaseBasis
from cluster.core.messages import (
    NEVER_FORMED,
    QUORUM_SERVER,
    Accept,
    AcceptReply,
    Ballot,
    Decision,
    GetDecision,
    Intent,
    Learn,
    Membership,
    Message,
    Ping,
    Poll,
    PollReply,
    Pong,
    Prepare,
    PrepareReply,
    QuorumPing,
    QuorumPong,
    View,
)
from cluster.core.outbox import Outbox
from cluster.core.paxos import AcceptorState, acceptors_for
from cluster.core.proposer import Kind, Proposer
from cluster.core.quorum import Verdict, judge
from cluster.core.spec import ClusterSpec
from cluster.core.timing import Timing
from cluster.core.triggers import Facts, change_reasons, proposer_rank


class MemberNode:
    """The sans-IO cmcld membership core of node `name`."""

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        timing: Timing,
        rng: Random,
        *,
        now: int,
        durable: Durable | None = None,
        auto_start: bool = False,
    ) -> None:
        if name not in spec.nodes:
            raise ValueError(f"node {name} is not configured in cluster {spec.name}")
        self.name = name
        self.spec = spec
        self.timing = timing
        self.rng = rng
        self.peers = tuple(n for n in spec.nodes if n != name)
        self.durable = durable or Durable(NEVER_FORMED, AcceptorState(1))
        self.boot_time = now
        self.boot_epoch = self.durable.decided.epoch
        self._learned_at = now
        self.intent = Intent.RUN if auto_start else Intent.HALTED
        self.active = False
        self.active_since = now
        self.lease: Lease | None = None
        self.lease_held = False
        self._lease_dirty = False  # answers or a promise may have moved the deadline
        self._reported_deadline = 0
        # When we first promised for the next epoch (our own support stops there).
        self.promise_time: int | None = now if self.durable.acceptor.promised else None
        self.last_granted: dict[str, int] = {}
        self.hb = Heartbeats(name, self.peers, timing)
        self.outbox = Outbox(name)
        self.proposer = Proposer(self)
        self._next_ping = now
        self._silence_at: int | None = None
        self._propose_at: int | None = None
        self._next_kind = Kind.CHANGE
        self._formation: tuple[str, ...] = ()
        self._backoff = 0
        self._busy_until = 0  # another node is proposing: we wait until then
        self._holdoff: dict[str, int] = {}  # reason -> until: it changed nothing last time
        self._reason = ""
        self._command: Command | None = None
        self._intent_before = self.intent
        self._command_deadline = 0
        self._start_deadline = now + timing.auto_start_timeout if auto_start else 0
        self._asked = (0, -FOREVER)
        self._decided_takeover: dict[str, int] = {}  # our own decision's takeover times
        self._takeover_at: dict[str, int] = {}  # as coordinator: announced takeover times
        self._last_wake: int | None = None
        self._dirty = True
        # Quorum-server answers waiting for what they taught us to be durable.
        self._qs_held: list[tuple[int, Message]] = []
        self._next_hello = now
        self.qs_refusal = ""  # why the quorum server last refused to vote, if it did

    # ------------------------------------------------------------------ public API

    def start(self) -> list[Effect]:
        """Effects of booting: the first pings and wake-up."""
        return self.handle(Tick(self.boot_time))

    def handle(self, event: Event) -> list[Effect]:
        now = event.now
        if isinstance(event, Received):
            self._on_message(event.sender, event.message, now)
        elif isinstance(event, Persisted):
            self.outbox.persisted(event.seq)
            self._release_qs(event.seq, now)
        elif isinstance(event, Operator):
            self._on_command(event.command, now)
            self._dirty = True
        else:
            self._dirty = True  # a Tick: timers may have expired
        self._deliver_local(now)
        self._step(now)
        self._deliver_local(now)
        self._schedule(now)
        return self.outbox.take()

    def decided_membership(self) -> Membership:
        return self.durable.decided

    def busy(self) -> bool:
        """An operator command is still in progress."""
        return self._command is not None

    def holds_lease(self, now: int) -> bool:
        return self.lease_held and now < self._reported_deadline - self.timing.stop_margin

    # ------------------------------------------------------------ ProposerHost API

    def decided(self) -> Membership:
        return self.durable.decided

    def learned_at(self) -> int:
        return self._learned_at

    def own_view(self, now: int) -> View:
        return View(
            hears=self.hb.hears(now),
            intent=self._advertised_intent(now),
            active=self.active,
            epoch=self.durable.decided.epoch,
            running=self.active and bool(self.durable.decided.members),
        )

    def heard_nodes(self, now: int) -> frozenset[str]:
        return self.hb.hears(now)

    def send(self, to: str, message: Message) -> None:
        self.outbox.emit(Send(to, self._to_qs(message) if to == QUORUM_SERVER else message))

    def send_after_persist(self, to: str, message: Message) -> None:
        self.outbox.after_persist(
            Send(to, self._to_qs(message) if to == QUORUM_SERVER else message)
        )

    def self_prepare(self, message: Prepare, now: int) -> PrepareReply:
        return self._on_prepare(self.name, message, now)

    def self_accept(self, message: Accept, now: int) -> AcceptReply:
        return self._on_accept(self.name, message, now)

    def adopt(self, decided: Membership, now: int) -> None:
        self._adopt(decided, now, None)

    def decide(self, value: Membership, now: int, takeover_at: dict[str, int]) -> None:
        """Our proposal decided `value`: learn it and tell every node (and the quorum
        server when it voted), with the takeover waits, once the decision is durable."""
        previous = self.durable.decided
        self._adopt(value, now, takeover_at)
        self._decided_takeover = takeover_at
        learn = Learn(self.spec.name, value, self._waits(now))
        for peer in self.peers:
            self.send_after_persist(peer, learn)
        acceptors, _ = acceptors_for(previous, self.spec.quorum_server)
        if QUORUM_SERVER in acceptors:
            self.send_after_persist(QUORUM_SERVER, learn)

    def _waits(self, now: int) -> tuple[tuple[str, int], ...]:
        """Takeover waits still to run, from now, for the decision we made ourselves."""
        return tuple((n, max(0, at - now)) for n, at in sorted(self._decided_takeover.items()))

    def round_timeout(self) -> int:
        """How long a proposal phase waits for answers: longer after each failed
        attempt, so a slow (overloaded) cluster still completes a round. Waiting longer
        is always safe; it only delays a decision when answers were really lost."""
        return self.timing.round_timeout << min(self._backoff, 4)

    def proposal_ended(self, now: int, kind: Kind, outcome: str, retry: bool) -> None:
        self._dirty = True
        if outcome == "decided":
            return
        self.outbox.emit(Note(f"{self.name}: {kind.value} proposal ended: {outcome}"))
        if retry:
            self._backoff += 1
            unit = self.timing.round_timeout
            self._next_kind = kind
            self._propose_at = now + self.rng.randrange(
                unit // 2, unit * 2 ** min(self._backoff, 4)
            )
        else:
            self._propose_at = None
            self._next_kind = Kind.CHANGE
            # Do not ask the same question again for a while (the answer was no).
            self._holdoff[self._reason] = now + self.timing.member_timeout
            if isinstance(self._command, RunCluster):
                self._finish_command(False, outcome)

    # -------------------------------------------------------------------- messages

    def _on_message(self, sender: str, message: Message, now: int) -> None:
        if isinstance(message, Ping):
            self._on_ping(sender, message, now)
        elif isinstance(message, Pong):
            self._on_pong(sender, message, now)
        elif sender == QUORUM_SERVER and isinstance(
            message, QuorumPong | PrepareReply | AcceptReply
        ):
            self._from_qs(message, now)
        elif isinstance(message, Poll):
            self._on_poll(sender, message, now)
        elif isinstance(message, PollReply):
            self.proposer.on_poll_reply(sender, message, now)
        elif isinstance(message, Prepare):
            self._on_prepare(sender, message, now)
        elif isinstance(message, PrepareReply):
            self.proposer.on_prepare_reply(sender, message, now)
        elif isinstance(message, Accept):
            self._on_accept(sender, message, now)
        elif isinstance(message, AcceptReply):
            self.proposer.on_accept_reply(sender, message, now)
        elif isinstance(message, Learn | Decision):
            wait = {n: now + self.timing.stretch(w) for n, w in message.takeover_waits}
            self._adopt(message.decided, now, wait)
        elif isinstance(message, GetDecision):
            self.send(sender, Decision(self.durable.decided, self._waits(now)))

    def _deliver_local(self, now: int) -> None:
        while self.outbox.local:
            message = self.outbox.local.pop(0)
            self._on_message(self.name, message, now)

    def _on_ping(self, sender: str, ping: Ping, now: int) -> None:
        old = self.hb.info.get(sender)
        self.hb.pinged(sender, ping.epoch, ping.active, ping.intent, ping.send_time)
        if old is None or (old.epoch, old.active, old.intent) != (
            ping.epoch,
            ping.active,
            ping.intent,
        ):
            self._dirty = True
        decided = self.durable.decided
        granted = (
            ping.active
            and ping.epoch == decided.epoch
            and sender in decided.members
            and self.name in decided.members
            and self.durable.acceptor.grants(ping.epoch)
        )
        if granted:
            self.last_granted[sender] = now
        self.send(sender, Pong(decided.epoch, ping.seq, ping.send_time, granted))
        self._learn_from(sender, ping.epoch, now)

    def _on_pong(self, sender: str, pong: Pong, now: int) -> None:
        if not self.hb.heard(sender, now):
            self._dirty = True
        self.hb.answered(sender, pong.echo_send_time)
        if pong.granted and self.lease is not None and pong.epoch == self.lease.epoch:
            self._lease_dirty |= self.lease.granted(sender, pong.echo_send_time)
        self._learn_from(sender, pong.epoch, now)

    # ------------------------------------------------------------- quorum server

    def _to_qs(self, message: Message) -> Message:
        """Tell the quorum server the newest state of it we saw, and whether a Paxos
        request to it is unanswered (then this report may not cover every answer we
        could still count, and it does not let the server vote)."""
        if not isinstance(message, QuorumPing | Prepare | Accept | Learn):
            return message
        attempt = self.proposer.current.attempt if self.proposer.current else None
        pending = attempt is not None and QUORUM_SERVER in attempt.acceptors
        return replace(message, known=self.durable.qs, pending=pending)

    def _from_qs(self, message: QuorumPong | PrepareReply | AcceptReply, now: int) -> None:
        """Count a quorum-server answer only if it comes from the state we know or one
        continuing it, and only once what it taught us is durable (DESIGN §2)."""
        answer = message.qs
        if answer is None:  # a quorum server older than lineages
            self._count_qs(message, now)
            return
        verdict = judge(self.durable.qs, answer)
        if verdict in (Verdict.STALE, Verdict.FORK):
            if verdict is Verdict.FORK:
                self.qs_refusal = (
                    f"answered from state {answer.state_id}, which does not continue the "
                    "one seen here: not counted"
                )
            return
        if verdict is Verdict.COUNT and answer == self.durable.qs:
            self._count_qs(message, now)
            return
        floor = self.durable.qs_floor
        if verdict is Verdict.RESET:
            floor = max(floor, self.durable.decided.epoch + 1)
            self.outbox.emit(
                Note(
                    f"{self.name}: the quorum server's state was reset; its votes count "
                    f"again after epoch {floor}"
                )
            )
        self.durable = replace(self.durable, qs=answer, qs_floor=floor)
        self.outbox.persist(self.durable)
        self._qs_held.append((self.outbox.last_seq, message))

    def _release_qs(self, seq: int, now: int) -> None:
        held, self._qs_held = self._qs_held, []
        for s, message in held:
            if s <= seq:
                assert isinstance(message, QuorumPong | PrepareReply | AcceptReply)
                self._count_qs(message, now)
            else:
                self._qs_held.append((s, message))

    def _count_qs(self, message: QuorumPong | PrepareReply | AcceptReply, now: int) -> None:
        if message.refusal != self.qs_refusal and message.refusal.startswith("state lost"):
            self.outbox.emit(
                Note(f"{self.name}: the quorum server refuses to vote: {message.refusal}")
            )
        self.qs_refusal = message.refusal
        if message.refusal:
            return  # no vote: as if it had not answered (a refusal is no higher ballot)
        floor = self.durable.qs_floor
        if isinstance(message, QuorumPong):
            lease = self.lease
            if message.granted and lease is not None and message.epoch == lease.epoch >= floor:
                self._lease_dirty |= lease.granted(QUORUM_SERVER, message.echo_send_time)
        elif message.epoch > floor:
            if isinstance(message, PrepareReply):
                self.proposer.on_prepare_reply(QUORUM_SERVER, message, now)
            else:
                self.proposer.on_accept_reply(QUORUM_SERVER, message, now)

    def _learn_from(self, sender: str, epoch: int, now: int) -> None:
        """A peer knows a later decision: ask it (at most once a heartbeat)."""
        if epoch <= self.durable.decided.epoch:
            return
        asked_epoch, asked_at = self._asked
        if epoch > asked_epoch or now - asked_at >= self.timing.heartbeat:
            self._asked = (epoch, now)
            self.send(sender, GetDecision(0))

    def _on_poll(self, sender: str, poll: Poll, now: int) -> None:
        self._learn_from(sender, poll.epoch, now)
        self.send(sender, PollReply(poll.epoch, self.own_view(now), self.durable.decided))
        if sender != self.name and poll.epoch == self.durable.decided.epoch:
            self._others_busy(now)

    def _others_busy(self, now: int) -> None:
        """Another node is proposing for our next epoch: give it time before we try."""
        if self.proposer.current is None:
            self._busy_until = max(self._busy_until, now + self.timing.round_timeout)
            if self._propose_at is not None and self._next_kind is Kind.CHANGE:
                self._propose_at = max(self._propose_at, self._busy_until)

    def _catch_up(self, epoch: int, previous: Membership, now: int) -> bool:
        """Before acting on a message for `epoch`, learn the membership of epoch-1."""
        if epoch > self.durable.decided.epoch + 1 and previous.epoch == epoch - 1:
            self._adopt(previous, now, None)
        return epoch == self.durable.decided.epoch + 1

    def _is_acceptor(self, formation: tuple[str, ...]) -> bool:
        decided = self.durable.decided
        return self.name in (decided.members if decided.members else formation)

    def _set_acceptor(self, state: AcceptorState, now: int) -> None:
        """Change our acceptor state; persist it. A first promise also ends our support
        of our own lease in this epoch, as it ends the answers to everyone else's."""
        if state == self.durable.acceptor:
            return
        first = self.durable.acceptor.promised is None
        self.durable = replace(self.durable, acceptor=state)
        self.outbox.persist(self.durable)
        if first:
            self.promise_time = now
            if self.lease is not None:
                self.lease.stop_self_support(now)
                self._lease_dirty = True

    def _on_prepare(self, sender: str, msg: Prepare, now: int) -> PrepareReply:
        current = self._catch_up(msg.epoch, msg.previous, now)
        decided = self.durable.decided
        if current and self.name in msg.formation and self.intent is Intent.HALTED:
            self.intent = Intent.RUN  # cmruncl named us
            self._dirty = True
        acceptor = current and self._is_acceptor(msg.formation)
        promised = False
        if acceptor:
            state, promised = self.durable.acceptor.prepare(msg.ballot)
            self._set_acceptor(state, now)
        state = self.durable.acceptor
        ages, unlisted = self._ages(now) if promised else ((), 0)
        reply = PrepareReply(
            epoch=msg.epoch,
            ballot=msg.ballot,
            promised=promised,
            acceptor=acceptor,
            promised_ballot=state.promised if acceptor else None,
            accepted=state.accepted if promised else None,
            last_decided=decided,
            view=self.own_view(now),
            last_answered=ages,
            unlisted_age=unlisted,
        )
        self.send_after_persist(sender, reply)
        if sender != self.name and current:
            self._preempted(msg.ballot, now)
        return reply

    def _on_accept(self, sender: str, msg: Accept, now: int) -> AcceptReply:
        current = self._catch_up(msg.epoch, msg.previous, now)
        acceptor = current and self._is_acceptor(msg.formation)
        accepted = False
        if acceptor:
            state, accepted = self.durable.acceptor.accept(msg.ballot, msg.value)
            self._set_acceptor(state, now)
        reply = AcceptReply(
            epoch=msg.epoch,
            ballot=msg.ballot,
            accepted=accepted,
            promised_ballot=self.durable.acceptor.promised,
            last_decided=self.durable.decided,
        )
        self.send_after_persist(sender, reply)
        if sender != self.name and current:
            self._preempted(msg.ballot, now)
        return reply

    def _preempted(self, ballot: Ballot, now: int) -> None:
        mine = self.proposer.ballot()
        if mine is not None and ballot > mine:
            current = self.proposer.current
            assert current is not None
            self.proposer.abort()
            self.proposal_ended(now, current.kind, "preempted by a higher ballot", retry=True)
        self._others_busy(now)

    def _ages(self, now: int) -> tuple[tuple[tuple[str, int], ...], int]:
        """How long ago we last granted each node's ping (ourselves: our promise)."""
        wait = self.timing.takeover_wait
        ages = []
        for node in self.spec.nodes:
            t = self.promise_time if node == self.name else self.last_granted.get(node)
            if t is not None and now - t < wait:
                ages.append((node, now - t))
        return tuple(ages), min(now - self.boot_time, wait)

    # ------------------------------------------------------------------- decisions

    def _adopt(self, decided: Membership, now: int, takeover_at: dict[str, int] | None) -> None:
        previous = self.durable.decided
        if decided.epoch <= previous.epoch:
            if decided.epoch == previous.epoch and decided != previous:
                self.outbox.emit(Note(f"{self.name}: CONFLICT {decided} vs {previous}"))
            elif decided == previous and takeover_at:
                self._allow_takeovers(takeover_at)  # waits that came after the decision
            return
        self._check_lease(now)  # a lease that ran out is lost (LeaseLost), not carried
        self.durable = replace(
            self.durable, decided=decided, acceptor=AcceptorState(decided.epoch + 1)
        )
        self.outbox.persist(self.durable)
        self._learned_at = now
        self.promise_time = None
        self.proposer.abort()
        self._propose_at = None
        self._next_kind = Kind.CHANGE
        self._backoff = 0
        self._dirty = True
        me = self.name
        carried = self.lease.basis() if self.lease is not None and self.holds_lease(now) else None
        stays = me in decided.members and self.intent is Intent.RUN
        if stays and (self.active or decided.epoch > self.boot_epoch):
            self._activate(now, carried)
        elif self.active:
            why = f"not a member of epoch {decided.epoch}"
            self._deactivate(now, why if decided.members else "cluster halted")
        left = self.intent is Intent.LEAVE and me not in decided.members
        if left or not decided.members:
            if isinstance(self._command, RunNode) and self.intent is Intent.RUN:
                # cmrunnode given before this node learned that the cluster halted:
                # it now waits for every node, as it would on a halted cluster.
                self._start_deadline = self._start_deadline or self._command_deadline
            else:
                self.intent = Intent.HALTED
        self._command_progress(now)
        self.outbox.emit(MembershipDecided(decided, previous))
        self.outbox.emit(Note(self._sentence(decided, previous)))
        self._decided_takeover = {}
        self._takeover_at = {}
        # Whatever else we hear, every lease a non-member may hold ends MT x (1 + rho)
        # after this decision, which was made before we learned it.
        fallback = now + self.timing.takeover_wait
        reported = takeover_at or {}
        self._allow_takeovers(
            {
                n: min(fallback, reported.get(n, fallback))
                for n in self.spec.nodes
                if n not in decided.members
            }
        )

    def _allow_takeovers(self, takeover_at: dict[str, int]) -> None:
        """As coordinator, announce when each non-member's packages may move: once per
        node, and again only if a later report allows an earlier time."""
        decided = self.durable.decided
        if decided.coordinator != self.name:
            return
        for node, at in sorted(takeover_at.items()):
            known = self._takeover_at.get(node)
            if node not in decided.members and (known is None or at < known):
                self._takeover_at[node] = at
                self.outbox.emit(TakeoverAllowed(node, decided.epoch, at))

    def _sentence(self, decided: Membership, previous: Membership) -> str:
        joined = sorted(set(decided.members) - set(previous.members))
        left = sorted(set(previous.members) - set(decided.members))
        parts = [f"{self.name} learned {decided.describe()}"]
        if joined:
            parts.append(f"joined {','.join(joined)}")
        if left:
            parts.append(f"left {','.join(left)}")
        return "; ".join(parts)

    # ---------------------------------------------------------------------- leases

    def _activate(self, now: int, carried: LeaseBasis | None) -> None:
        decided = self.durable.decided
        acceptors, quorum = acceptors_for(decided, self.spec.quorum_server)
        self._lease_dirty = True
        self.lease = Lease(
            decided.epoch,
            self.name,
            acceptors=acceptors,
            quorum=quorum,
            timing=self.timing,
            carried=carried,
        )
        if not self.active or carried is None:
            self.lease_held = False
            self._reported_deadline = 0
            self.active_since = now
        self.active = True

    def _deactivate(self, now: int, reason: str) -> None:
        if self.lease_held:
            self.outbox.emit(LeaseLost(self.durable.decided.epoch, self._reported_deadline, reason))
        self.outbox.emit(Note(f"{self.name}: inactive: {reason}"))
        self.active = False
        self.lease = None
        self.lease_held = False
        self._reported_deadline = 0
        self._dirty = True

    def _check_lease(self, now: int) -> None:
        lease = self.lease
        if not self.active or lease is None:
            return
        deadline = lease.deadline()
        margin = self.timing.stop_margin
        if deadline is not None and now < deadline - margin:
            if not self.lease_held or deadline != self._reported_deadline:
                basis = lease.basis()
                assert basis is not None
                epoch = self.durable.decided.epoch
                effect_type = LeaseChanged if self.lease_held else LeaseGained
                self.outbox.emit(effect_type(epoch, deadline, basis.epoch, basis.support))
                self.lease_held = True
                self._reported_deadline = deadline
        elif self.lease_held:
            self._deactivate(now, "lease lost: no answer from a quorum")
        elif now >= self.active_since + self.timing.member_timeout:
            self._deactivate(now, "no lease within MEMBER_TIMEOUT of joining")

    # ---------------------------------------------------------------------- periodic

    def _step(self, now: int) -> None:
        if self._lease_dirty or (
            self.active and now >= self._reported_deadline - self.timing.stop_margin
        ):
            self._lease_dirty = False
            self._check_lease(now)
        if now >= self._next_ping:
            self._send_pings(now)
            self._next_ping = now + self.timing.heartbeat
            self._dirty = True
        if self._silence_at is not None and now >= self._silence_at:
            self._dirty = True
        self.proposer.tick(now)
        if self._command is not None and now >= self._command_deadline:
            self._finish_command(False, "timed out")
        if self._start_deadline and now >= self._start_deadline:
            self._start_deadline = 0
            if self.intent is Intent.RUN and not self.durable.decided.members:
                self.intent = Intent.HALTED
                self.outbox.emit(Note(f"{self.name}: AUTO_START_TIMEOUT: not every node came up"))
                if isinstance(self._command, RunNode):
                    self._finish_command(False, "no running cluster and not every node up")
        if self._dirty or (self._propose_at is not None and now >= self._propose_at):
            self._dirty = False
            self._silence_at = self.hb.first_silence(self.durable.decided.members, now)
            self._consider(now)

    def _advertised_intent(self, now: int) -> Intent:
        """BOOTING for two heartbeats after start: until our pings were answered, the
        view we would report hears nobody, and a proposal built on it would leave us
        out only to take us back one epoch later."""
        if self.intent is Intent.RUN and now < self.boot_time + 2 * self.timing.heartbeat:
            return Intent.BOOTING
        return self.intent

    def _send_pings(self, now: int) -> None:
        decided = self.durable.decided
        ping = Ping(
            decided.epoch, self.hb.next_seq(), now, self.active, self._advertised_intent(now)
        )
        for peer in self.peers:
            self.outbox.emit(Send(peer, ping))
        size = len(decided.members)
        if (
            self.active
            and self.lease is not None
            and self.spec.quorum_server
            and size % 2 == 0
            and self.lease.answering(now) == size // 2
        ):
            qping = QuorumPing(self.spec.name, decided.epoch, ping.seq, now, decided.members)
            self.send(QUORUM_SERVER, qping)
            self._next_hello = now + self.timing.member_timeout
        elif (
            self.spec.quorum_server
            and size % 2 == 0
            and self.name in decided.members
            and now >= self._next_hello
        ):
            self._next_hello = now + self.timing.member_timeout
            hello = QuorumPing(self.spec.name, decided.epoch, 0, now, decided.members, True)
            self.send(QUORUM_SERVER, hello)

    def _schedule(self, now: int) -> None:
        """Ask for a Tick at the earliest moment something is due (runs every event:
        kept to plain comparisons)."""
        at = self._next_ping
        if self.active:
            if not self.lease_held:
                at = min(at, self.active_since + self.timing.member_timeout)
            elif self._reported_deadline < FOREVER:
                at = min(at, self._reported_deadline - self.timing.stop_margin)
        proposal_due = self.proposer.deadline()
        if proposal_due is not None:
            at = min(at, proposal_due)
        if self._propose_at is not None:
            at = min(at, self._propose_at)
        if self._silence_at is not None:
            at = min(at, self._silence_at)
        if self._command is not None:
            at = min(at, self._command_deadline)
        if self._start_deadline:
            at = min(at, self._start_deadline)
        if self._busy_until > now:
            at = min(at, self._busy_until)
        at = max(at, now)
        if at != self._last_wake:
            self._last_wake = at
            self.outbox.emit(WakeAt(at))

    # ----------------------------------------------------------------- proposals

    def _consider(self, now: int) -> None:
        """Start a proposal when one is due: a command's, or a change we see."""
        if self.proposer.current is not None:
            return
        if self._next_kind is not Kind.CHANGE:
            if self._propose_at is None or now >= self._propose_at:
                self._propose_at = None
                self._reason = self._next_kind.value
                formation = self._formation if self._next_kind is Kind.FORMATION else ()
                self.proposer.start(now, self._next_kind, formation)
            return
        reason = self._change_reason(now)
        if reason is None:
            self._propose_at = None
            return
        if self._propose_at is None:
            delay = proposer_rank(self._facts(now), self.hb) * self.timing.proposal_step
            if delay:
                delay += self.rng.randrange(self.timing.proposal_step // 2 + 1)
            self._propose_at = max(now + delay, self._busy_until)
        if now >= self._propose_at:
            self._propose_at = None
            self.outbox.emit(
                Note(f"{self.name}: proposing epoch {self.decided().epoch + 1}: {reason}")
            )
            self._reason = reason
            if reason == "form":
                self._formation = self.spec.nodes
                self.proposer.start(now, Kind.FORMATION, self.spec.nodes)
            else:
                self.proposer.start(now, Kind.CHANGE)

    def _change_reason(self, now: int) -> str | None:
        """Why the membership should change, as this node sees it; None if it should not
        (or if asking last time changed nothing, within MEMBER_TIMEOUT)."""
        for reason in change_reasons(self._facts(now), self.hb):
            if self._holdoff.get(reason, 0) <= now:
                return reason
        return None

    def _facts(self, now: int) -> Facts:
        return Facts(
            me=self.name,
            nodes=self.spec.nodes,
            decided=self.durable.decided,
            intent=self.intent,
            active=self.active,
            booted=now >= self.boot_time + 2 * self.timing.heartbeat,
            mature=now >= self.boot_time + self.timing.member_timeout,
            now=now,
            settled=now >= self._learned_at + 2 * self.timing.heartbeat,
        )

    # ---------------------------------------------------------------------- commands

    def _on_command(self, command: Command, now: int) -> None:
        if self._command is not None:
            self.outbox.emit(CommandDone(command, False, f"busy with {self._command}"))
            return
        decided = self.durable.decided
        deadline = now + max(self.timing.member_timeout, 50 * self.timing.round_timeout)
        if isinstance(command, RunNode):
            if self.active:
                self.outbox.emit(CommandDone(command, True, "already running"))
                return
            self.intent = Intent.RUN
            if not decided.members:
                self._start_deadline = now + self.timing.auto_start_timeout
            self._begin(command, now + self.timing.auto_start_timeout)
        elif isinstance(command, HaltNode):
            if self.name not in decided.members:
                self.intent = Intent.HALTED
                self.outbox.emit(CommandDone(command, True, "not a member"))
                return
            self.intent = Intent.LEAVE
            if self.active:
                self._deactivate(now, "halting this node")
            self._begin(command, deadline)
        elif isinstance(command, RunCluster):
            nodes = command.nodes or self.spec.nodes
            problem = self._formation_problem(nodes)
            if problem:
                self.outbox.emit(CommandDone(command, False, problem))
                return
            self._intent_before = self.intent  # back to it if the cluster cannot form
            self.intent = Intent.RUN
            self._begin(command, deadline)
            self._formation = tuple(sorted(nodes))
            self._next_kind = Kind.FORMATION
            self._propose_at = now
        elif isinstance(command, HaltCluster):
            if not self.active:
                self.outbox.emit(CommandDone(command, False, "not an active member"))
                return
            self._begin(command, deadline)
            self.proposer.abort()
            self._next_kind = Kind.HALT
            self._propose_at = now

    def _formation_problem(self, nodes: tuple[str, ...]) -> str | None:
        unknown = sorted(set(nodes) - set(self.spec.nodes))
        if unknown:
            return f"not configured: {','.join(unknown)}"
        if self.name not in nodes:
            return f"run cmruncl on one of {','.join(nodes)}"
        decided = self.durable.decided
        if self.active:
            return f"cluster already running ({decided.describe()})"
        if decided.members and self.name not in decided.members:
            return f"run cmruncl on a node of the last membership ({decided.describe()})"
        return None

    def _begin(self, command: Command, deadline: int) -> None:
        self._command = command
        self._command_deadline = deadline

    def _command_progress(self, now: int) -> None:
        decided = self.durable.decided
        command = self._command
        member = self.name in decided.members
        done = (
            (isinstance(command, (RunNode, RunCluster)) and member)
            or (isinstance(command, HaltNode) and not member)
            or (isinstance(command, HaltCluster) and not decided.members)
        )
        if done:
            self._finish_command(True, decided.describe())
        elif isinstance(command, RunCluster) and decided.members:
            self._finish_command(False, f"a cluster formed without this node: {decided.describe()}")

    def _finish_command(self, ok: bool, detail: str) -> None:
        command = self._command
        if command is None:
            return
        self._command = None
        if self._next_kind is not Kind.CHANGE:
            self._next_kind = Kind.CHANGE
            self._propose_at = None
        if isinstance(command, RunCluster) and not ok and not self.active:
            self.intent = self._intent_before
        self.outbox.after_persist(CommandDone(command, ok, detail))
