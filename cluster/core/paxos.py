"""Single-decree Paxos, one instance per epoch: the acceptor's state and the proposer's
bookkeeping for one ballot.

The membership of epoch e+1 is decided by the acceptors of epoch e: the members of the
membership of epoch e, plus the quorum server when that membership has an even number
of members and a quorum server is configured; a majority decides. After a halt (empty
membership) the first membership is formed by the nodes cmruncl names, all of them:
any two formations that share a node then share an acceptor, so they cannot both win.
"""

from dataclasses import dataclass, field, replace

from cluster.core.messages import QUORUM_SERVER, Accepted, Ballot, Membership, PrepareReply


@dataclass(frozen=True)
class AcceptorState:
    """What an acceptor promised and accepted for the decision of `epoch`.

    Persisted before any reply that reveals it. Only one epoch is open at a time: an
    acceptor that hears of a later epoch knows every earlier one was decided.
    """

    epoch: int
    promised: Ballot | None = None
    accepted: Accepted | None = None

    def at(self, epoch: int) -> "AcceptorState":
        """The state for deciding `epoch`: blank if `epoch` is later than ours."""
        return self if epoch <= self.epoch else AcceptorState(epoch)

    def grants(self, ping_epoch: int) -> bool:
        """May an answer to a ping of `ping_epoch` support the pinger's lease?

        Not once this acceptor promised anything for a later epoch: that is what bounds
        the lease of a node left out of the next membership.
        """
        if self.epoch <= ping_epoch:
            return True
        return self.epoch == ping_epoch + 1 and self.promised is None

    def prepare(self, ballot: Ballot) -> tuple["AcceptorState", bool]:
        if self.promised is not None and ballot < self.promised:
            return self, False
        return replace(self, promised=ballot), True

    def accept(self, ballot: Ballot, value: Membership) -> tuple["AcceptorState", bool]:
        if self.promised is not None and ballot < self.promised:
            return self, False
        return AcceptorState(self.epoch, ballot, Accepted(ballot, value)), True


def acceptors_for(
    previous: Membership, quorum_server: bool, formation: tuple[str, ...] = ()
) -> tuple[frozenset[str], int]:
    """The acceptors deciding the epoch after `previous`, and how many must agree."""
    if not previous.members:
        nodes = frozenset(formation)
        return nodes, len(nodes)
    nodes = frozenset(previous.members)
    if quorum_server and len(nodes) % 2 == 0:
        nodes = nodes | {QUORUM_SERVER}
    return nodes, len(nodes) // 2 + 1


@dataclass
class Promise:
    reply: PrepareReply
    received: int  # proposer's local time


@dataclass
class Attempt:
    """One ballot's attempt to decide `epoch`: counts promises and acceptances."""

    epoch: int
    ballot: Ballot
    previous: Membership
    acceptors: frozenset[str]
    quorum: int
    promises: dict[str, Promise] = field(default_factory=dict)
    accepts: set[str] = field(default_factory=set)
    value: Membership | None = None

    def promised(self, acceptor: str, reply: PrepareReply, now: int) -> bool:
        """Record a promise; true when a quorum has promised."""
        if acceptor in self.acceptors and reply.promised and reply.ballot == self.ballot:
            self.promises.setdefault(acceptor, Promise(reply, now))
        return len(self.promises) >= self.quorum

    def has_promise_quorum(self) -> bool:
        return len(self.promises) >= self.quorum

    def accepted(self, acceptor: str) -> bool:
        """Record an acceptance; true when a quorum accepted (the value is decided)."""
        if acceptor in self.acceptors:
            self.accepts.add(acceptor)
        return len(self.accepts) >= self.quorum

    def constrained_value(self) -> Membership | None:
        """The value of the highest ballot any promiser accepted: Paxos obliges us to
        propose it again, whatever we would have chosen."""
        best: Accepted | None = None
        for promise in self.promises.values():
            acc = promise.reply.accepted
            if acc is not None and (best is None or acc.ballot > best.ballot):
                best = acc
        return best.value if best is not None else None

    def lease_end_bound(self, node: str, takeover_wait: int) -> int:
        """Local time after which `node` surely holds no lease in `previous`'s epoch.

        Every promiser stopped answering that epoch's pings when it promised, and a
        lease needs a majority of acceptors, which shares one with the promisers. So
        the lease ended MT x (1 + rho) after the latest answer any promiser gave it.
        An acceptor's reported age only grows while its reply travels, so counting
        from our receipt is safe.
        """
        bound = 0
        for promise in self.promises.values():
            reply = promise.reply
            ages = dict(reply.last_answered)
            age = ages.get(node, reply.unlisted_age)
            bound = max(bound, promise.received + max(0, takeover_wait - age))
        return bound
