"""The proposer: poll views, then run one Paxos ballot for the next epoch.

A proposal goes through three phases, each with a deadline:

POLL     ask every node we hear for its view (binding nobody). If the value rule gives
         back the current membership with every member working, stop: nothing to
         decide, and no acceptor was disturbed (a promise stops lease grants).
PREPARE  our own promise first (persisted), then Prepare to the acceptors and to the
         polled nodes (non-acceptors answer with their view only). Wait for a quorum
         of promises and, briefly, for the views of every polled node.
ACCEPT   propose the value Paxos obliges us to (the highest accepted one reported) or
         the value rule's choice on the freshest views; decided on a quorum.

On a decision the host learns it with, for every configured node outside the new
membership, the local time from which that node surely holds no lease.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from cluster.core.clique import largest_connected
from cluster.core.messages import (
    Accept,
    AcceptReply,
    Ballot,
    Intent,
    Membership,
    Poll,
    PollReply,
    Prepare,
    PrepareReply,
    View,
)
from cluster.core.paxos import Attempt, acceptors_for
from cluster.core.spec import ClusterSpec
from cluster.core.timing import Timing


class Kind(Enum):
    CHANGE = "change"  # failures, joins, leaves: the value rule picks the members
    FORMATION = "formation"  # cmruncl / AUTO_START: exactly the named nodes
    HALT = "halt"  # cmhaltcl: the empty membership


class Phase(Enum):
    POLL = "poll"
    PREPARE = "prepare"
    ACCEPT = "accept"


class ProposerHost(Protocol):
    """What the proposer needs from its node."""

    name: str
    spec: ClusterSpec
    timing: Timing

    def decided(self) -> Membership: ...
    def learned_at(self) -> int: ...
    def own_view(self, now: int) -> View: ...
    def heard_nodes(self, now: int) -> frozenset[str]: ...
    def send(self, to: str, message: Poll | Prepare | Accept) -> None: ...
    def send_after_persist(self, to: str, message: Prepare | Accept) -> None: ...
    def self_prepare(self, message: Prepare, now: int) -> PrepareReply: ...
    def self_accept(self, message: Accept, now: int) -> AcceptReply: ...
    def adopt(self, decided: Membership, now: int) -> None: ...
    def decide(self, value: Membership, now: int, takeover_at: dict[str, int]) -> None: ...
    def proposal_ended(self, now: int, kind: Kind, outcome: str, retry: bool) -> None: ...
    def round_timeout(self) -> int: ...


@dataclass
class Proposal:
    kind: Kind
    previous: Membership
    formation: tuple[str, ...]
    polled: frozenset[str]
    phase: Phase
    deadline: int
    views: dict[str, View] = field(default_factory=dict)
    # When we first saw each node say it leaves (it had given up its lease by then).
    leaving_since: dict[str, int] = field(default_factory=dict)
    answered_poll: set[str] = field(default_factory=set)
    answered_prepare: set[str] = field(default_factory=set)
    answered_accept: set[str] = field(default_factory=set)
    attempt: Attempt | None = None
    quorum_at: int | None = None
    message: Poll | Prepare | Accept | None = None  # this phase's, sent again if unanswered
    resend_at: int = 0

    @property
    def epoch(self) -> int:
        return self.previous.epoch + 1


class Proposer:
    def __init__(self, host: ProposerHost) -> None:
        self.host = host
        self.current: Proposal | None = None
        self._round_epoch = 0
        self._round = 0  # highest round seen for epoch _round_epoch

    # ------------------------------------------------------------------ bookkeeping

    def saw(self, epoch: int, ballot: Ballot | None) -> None:
        """Remember the highest round used for `epoch`, so our next ballot is above."""
        if ballot is None:
            return
        if epoch > self._round_epoch:
            self._round_epoch, self._round = epoch, 0
        if epoch == self._round_epoch:
            self._round = max(self._round, ballot.round)

    def ballot(self) -> Ballot | None:
        if self.current is None or self.current.attempt is None:
            return None
        return self.current.attempt.ballot

    def abort(self) -> None:
        self.current = None

    def deadline(self) -> int | None:
        p = self.current
        return min(p.deadline, p.resend_at) if p is not None else None

    def _resend_period(self) -> int:
        return max(1, self.host.round_timeout() // 4)

    def _phase(self, p: Proposal, phase: Phase, message: Poll | Prepare | Accept, now: int) -> None:
        p.phase = phase
        p.message = message
        p.resend_at = now + self._resend_period()

    def _unanswered(self, p: Proposal, now: int) -> frozenset[str]:
        """Who should still answer this phase's message (lost messages are sent again:
        a view missing from the poll would leave its node out of the membership)."""
        me = {self.host.name}
        if p.phase is Phase.POLL:
            return self._awaited_poll(p, now) - p.answered_poll - me
        assert p.attempt is not None
        if p.phase is Phase.PREPARE:
            return (p.attempt.acceptors | p.answered_poll) - p.answered_prepare - me
        return p.attempt.acceptors - p.answered_accept - me

    # ------------------------------------------------------------------- the phases

    def start(self, now: int, kind: Kind, formation: tuple[str, ...] = ()) -> None:
        host = self.host
        previous = host.decided()
        everyone = frozenset(host.spec.nodes) if kind is Kind.FORMATION else frozenset()
        polled = (host.heard_nodes(now) | set(previous.members) | everyone) - {host.name}
        deadline = now + host.round_timeout()
        proposal = Proposal(kind, previous, formation, polled, Phase.POLL, deadline)
        self._view(proposal, host.name, host.own_view(now), now)
        self.current = proposal
        poll = Poll(previous.epoch, formation)
        self._phase(proposal, Phase.POLL, poll, now)
        for node in sorted(polled):
            host.send(node, poll)
        self._poll_complete(now)

    @staticmethod
    def _view(p: Proposal, node: str, view: View, now: int) -> None:
        p.views[node] = view
        if view.intent is Intent.LEAVE:
            p.leaving_since.setdefault(node, now)

    def _awaited_poll(self, p: Proposal, now: int) -> frozenset[str]:
        heard = self.host.heard_nodes(now) & p.polled
        return heard | frozenset(p.formation) - {self.host.name}

    def on_poll_reply(self, sender: str, reply: PollReply, now: int) -> None:
        p = self.current
        if p is None or p.phase is not Phase.POLL or reply.epoch != p.previous.epoch:
            return
        if reply.decided.epoch > p.previous.epoch:
            self.host.adopt(reply.decided, now)
            return
        self._view(p, sender, reply.view, now)
        p.answered_poll.add(sender)
        self._poll_complete(now)

    def _poll_complete(self, now: int) -> None:
        p = self.current
        if p is not None and self._awaited_poll(p, now) <= p.answered_poll:
            self._end_poll(now)

    def _end_poll(self, now: int) -> None:
        p = self.current
        assert p is not None
        if p.kind is Kind.FORMATION:
            running = sorted(n for n, v in p.views.items() if v.running)
            if running:
                self._end(now, f"a cluster is running on {','.join(running)}", retry=False)
                return
            missing = sorted(set(p.formation) - set(p.views))
            if missing:
                self._end(now, f"no answer from {','.join(missing)}", retry=True)
                return
            # The value rule holds for formation too: a membership whose members do
            # not all hear each other would shed one of them within MEMBER_TIMEOUT.
            apart = [
                f"{a} does not hear {b}"
                for a in p.formation
                for b in p.formation
                if b not in p.views[a].hears
            ]
            if apart:
                self._end(now, f"not all connected yet ({apart[0]})", retry=True)
                return
        elif p.kind is Kind.CHANGE:
            members = self._choose(p)
            unchanged = members == p.previous.members
            if unchanged and all(p.views[m].active for m in members):
                self._end(now, "no change needed", retry=False)
                return
        self._prepare(now)

    def _prepare(self, now: int) -> None:
        p = self.current
        assert p is not None
        host = self.host
        acceptors, quorum = acceptors_for(p.previous, host.spec.quorum_server, p.formation)
        self.saw(p.epoch, Ballot(0, ""))
        ballot = Ballot(self._round + 1, host.name)
        self._round = ballot.round
        p.attempt = Attempt(p.epoch, ballot, p.previous, acceptors, quorum)
        p.deadline = now + host.round_timeout()
        message = Prepare(host.spec.name, p.epoch, ballot, p.previous, p.formation)
        self._phase(p, Phase.PREPARE, message, now)
        own = host.self_prepare(message, now)
        if own.acceptor and not own.promised:
            self.saw(p.epoch, own.promised_ballot)
            self._end(now, "we promised a higher ballot", retry=True)
            return
        for node in sorted((acceptors | p.answered_poll) - {host.name}):
            host.send_after_persist(node, message)

    def on_prepare_reply(self, sender: str, reply: PrepareReply, now: int) -> None:
        p = self.current
        if p is None or p.phase is not Phase.PREPARE or p.attempt is None:
            return
        if reply.epoch != p.epoch or reply.ballot != p.attempt.ballot:
            return
        if reply.last_decided.epoch >= p.epoch:
            self.host.adopt(reply.last_decided, now)
            return
        if reply.view is not None:
            self._view(p, sender, reply.view, now)
        p.answered_prepare.add(sender)
        if reply.acceptor and not reply.promised:
            self.saw(p.epoch, reply.promised_ballot)
            if reply.promised_ballot is not None and reply.promised_ballot > p.attempt.ballot:
                self._end(now, f"{sender} promised a higher ballot", retry=True)
            return
        if reply.promised:
            p.attempt.promised(sender, reply, now)
        if p.attempt.has_promise_quorum():
            if p.quorum_at is None:
                p.quorum_at = now
                p.deadline = now + self.host.round_timeout() // 4
            if p.answered_poll <= p.answered_prepare:
                self._end_prepare(now)

    def _end_prepare(self, now: int) -> None:
        p = self.current
        assert p is not None and p.attempt is not None
        host = self.host
        value = p.attempt.constrained_value()
        if value is None:
            if p.kind is Kind.FORMATION:
                members = p.formation
            elif p.kind is Kind.HALT:
                members = ()
            else:
                members = self._choose(p)
            coordinator = ""
            if members:
                keep = p.previous.coordinator in members
                coordinator = p.previous.coordinator if keep else members[0]
            value = Membership(p.epoch, members, coordinator, host.spec.generation)
        p.attempt.value = value
        p.deadline = now + host.round_timeout()
        message = Accept(host.spec.name, p.epoch, p.attempt.ballot, value, p.previous, p.formation)
        self._phase(p, Phase.ACCEPT, message, now)
        own = host.self_accept(message, now)
        if not own.accepted:
            self.saw(p.epoch, own.promised_ballot)
            self._end(now, "we promised a higher ballot", retry=True)
            return
        # Our own acceptance counts when its reply comes back to us, once it is durable
        # (as our promise did): counted at once, a crash before the persist completed
        # forgot a value that had decided the epoch, and a second value was decided.
        for node in sorted(p.attempt.acceptors - {host.name}):
            host.send_after_persist(node, message)

    def on_accept_reply(self, sender: str, reply: AcceptReply, now: int) -> None:
        p = self.current
        if p is None or p.phase is not Phase.ACCEPT or p.attempt is None:
            return
        if reply.epoch != p.epoch or reply.ballot != p.attempt.ballot:
            return
        if reply.last_decided.epoch >= p.epoch:
            self.host.adopt(reply.last_decided, now)
            return
        p.answered_accept.add(sender)
        if not reply.accepted:
            self.saw(p.epoch, reply.promised_ballot)
            self._end(now, f"{sender} promised a higher ballot", retry=True)
            return
        if p.attempt.accepted(sender):
            self._decide(now)

    def tick(self, now: int) -> None:
        p = self.current
        if p is None:
            return
        if now < p.deadline:
            if now >= p.resend_at and p.message is not None:
                p.resend_at = now + self._resend_period()
                for node in sorted(self._unanswered(p, now)):
                    if isinstance(p.message, Poll):
                        self.host.send(node, p.message)
                    else:
                        self.host.send_after_persist(node, p.message)
            return
        if p.phase is Phase.POLL:
            self._end_poll(now)
        elif p.phase is Phase.PREPARE and p.quorum_at is not None:
            self._end_prepare(now)
        elif p.phase is Phase.PREPARE:
            self._end(now, "no quorum of promises", retry=True)
        else:
            self._end(now, "no quorum of acceptances", retry=True)

    # --------------------------------------------------------------------- outcomes

    def _choose(self, p: Proposal) -> tuple[str, ...]:
        """The value rule over the views we hold: largest all-connected set of nodes
        that want to run, the current coordinator's set first, then the one keeping the
        most current members, then lower names."""
        nodes = set(self.host.spec.nodes)
        hears = {n: v.hears for n, v in p.views.items() if n in nodes and v.intent is Intent.RUN}
        return largest_connected(
            hears, prefer=p.previous.coordinator, keep=frozenset(p.previous.members)
        )

    def _decide(self, now: int) -> None:
        p = self.current
        assert p is not None and p.attempt is not None and p.attempt.value is not None
        host = self.host
        value = p.attempt.value
        wait = host.timing.takeover_wait
        takeover_at: dict[str, int] = {}
        for node in host.spec.nodes:
            if node in value.members:
                continue
            # Leases of epochs before the previous one ended MT x (1 + rho) after the
            # previous membership was decided, which was before we learned it.
            at = host.learned_at() + wait
            if node in p.previous.members:
                at = max(at, p.attempt.lease_end_bound(node, wait))
            since = p.leaving_since.get(node)
            if since is not None:
                # cmhaltnode: it gave up its lease before it said it leaves, and its
                # stop-now path ends within the stop margin of that.
                at = min(at, since + host.timing.stretch(host.timing.stop_margin))
            takeover_at[node] = at
        kind = p.kind
        self.current = None
        host.decide(value, now, takeover_at)
        host.proposal_ended(now, kind, "decided", retry=False)

    def _end(self, now: int, outcome: str, retry: bool) -> None:
        p = self.current
        assert p is not None
        self.current = None
        self.host.proposal_ended(now, p.kind, outcome, retry)
