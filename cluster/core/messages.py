"""The membership protocol's messages as plain frozen dataclasses.

The core never sees protobuf: the daemon translates these to and from
`cluster.pb.v1.membership_pb2` (the transport tells who sent a message, from the
peer's certificate, so no message carries its sender). Field names follow the proto
where it has them; fields the proto lacks are marked "(not in proto yet)".
"""

from dataclasses import dataclass, field
from enum import Enum

QUORUM_SERVER = "@qs"
"""Address of the quorum server in Send effects; not a valid node name, so never a peer."""


@dataclass(frozen=True, order=True)
class Ballot:
    """A Paxos ballot for one epoch, ordered by (round, proposer) so any two differ."""

    round: int
    proposer: str


@dataclass(frozen=True)
class Membership:
    """A decided membership: the nodes of `epoch` and their coordinator.

    Epoch 0 with no members is the state of a cluster never formed; a later empty
    membership is a halted cluster.
    """

    epoch: int
    members: tuple[str, ...] = ()  # sorted
    coordinator: str = ""
    generation: int = 0  # configuration generation this membership runs

    def __contains__(self, node: object) -> bool:
        return node in self.members

    def describe(self) -> str:
        if not self.members:
            return f"epoch {self.epoch}: no members"
        return f"epoch {self.epoch}: {','.join(self.members)} (coordinator {self.coordinator})"


NEVER_FORMED = Membership(0)


class Intent(Enum):
    """What the node's operator wants of it (carried in pings so peers can act)."""

    HALTED = "halted"  # cmcld up, not to be a member (never started, cmhaltnode done)
    BOOTING = "booting"  # wants to run, but its view is not settled yet: wait for it
    RUN = "run"  # to be a member: cmrunnode, cmruncl, AUTO_START
    LEAVE = "leave"  # cmhaltnode in progress: lease surrendered, waiting to be excluded


@dataclass(frozen=True)
class Ping:
    """A heartbeat; the answer echoes `send_time`, so leases count from the send time.

    `active` (not in proto yet) says the sender is a working member of `epoch`, the
    only kind of ping whose answer may support a lease. `intent` (not in proto yet,
    could live in HeartbeatHello) lets members see joins and leaves.
    """

    epoch: int
    seq: int
    send_time: int
    active: bool
    intent: Intent


@dataclass(frozen=True)
class Pong:
    """The answer to a ping. `granted` (not in proto yet) says the answer supports the
    pinger's lease in `epoch`: the responder is a member of that epoch and has promised
    nothing for the next one. Refused answers still count for "who hears whom"."""

    epoch: int
    seq: int
    echo_send_time: int
    granted: bool


@dataclass(frozen=True)
class QsState:
    """Which quorum-server state answered (DESIGN §2, "Acceptors never forget").

    `state_id` is random, new at every start of cmqsd; `version` grows at every persist
    and never goes back; `ancestors` are the (state id, last version) this state
    continues, newest last; `reset` counts operator resets of the cluster's slot."""

    state_id: str
    version: int
    reset: int = 0
    ancestors: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class QuorumPing:
    """`members` are those of `epoch` (the quorum server votes for an epoch only once
    each of them has told it what it knows); `probe` marks the periodic hello that no
    lease needs. `known` and `pending` travel on every message to the quorum server:
    the newest quorum-server state the sender saw, and whether it has a Paxos request
    to the quorum server still unanswered (not in proto: QuorumRequest carries them)."""

    cluster_name: str
    epoch: int
    seq: int
    send_time: int
    members: tuple[str, ...] = ()
    probe: bool = False
    known: QsState | None = None
    pending: bool = False


@dataclass(frozen=True)
class QuorumPong:
    """`qs` is the state that answered (durable when sent); `refusal` says why it
    refused to vote, if it did (not in proto: QuorumReply carries both)."""

    epoch: int
    seq: int
    echo_send_time: int
    granted: bool
    qs: QsState | None = None
    refusal: str = ""


@dataclass(frozen=True)
class Poll:
    """Ask a node for its view before proposing (not in proto yet; a PrepareRequest
    without ballot could carry it). Nothing is promised, so a poll that finds no change
    needed disturbs no lease. `formation` lists the nodes of a cmruncl."""

    epoch: int  # the poller's decided epoch
    formation: tuple[str, ...] = ()


@dataclass(frozen=True)
class View:
    """What a node reports of itself: whom it hears (itself included) and what it wants."""

    hears: frozenset[str]
    intent: Intent
    active: bool
    epoch: int  # its decided epoch
    running: bool  # active member of a non-empty membership (a running cluster)


@dataclass(frozen=True)
class PollReply:
    epoch: int  # the poll's epoch, to match it
    view: View
    decided: Membership


@dataclass(frozen=True)
class Accepted:
    ballot: Ballot
    value: Membership


@dataclass(frozen=True)
class Prepare:
    """Phase 1 for epoch `epoch`. `previous` (not in proto yet) is the membership of
    epoch-1, so an acceptor that missed it learns it first; `formation` (not in proto
    yet) names the acceptors when the previous membership is empty (cmruncl)."""

    cluster_name: str
    epoch: int
    ballot: Ballot
    previous: Membership
    formation: tuple[str, ...] = ()
    known: QsState | None = None  # to the quorum server only, as in QuorumPing
    pending: bool = False


@dataclass(frozen=True)
class PrepareReply:
    """A promise (`promised` true) or a refusal carrying what the proposer lacks.

    `last_answered` holds (node, age ns): how long ago this acceptor last granted a
    ping of that node; any node not listed was granted nothing for at least
    `unlisted_age` (not in proto yet; the time since the acceptor started, capped).
    `acceptor` is false when the responder is not an acceptor of this epoch (a joiner):
    then only `view` counts.
    """

    epoch: int
    ballot: Ballot
    promised: bool
    acceptor: bool
    promised_ballot: Ballot | None
    accepted: Accepted | None
    last_decided: Membership
    view: View | None
    last_answered: tuple[tuple[str, int], ...] = ()
    unlisted_age: int = 0
    qs: QsState | None = None  # from the quorum server only, as in QuorumPong
    refusal: str = ""


@dataclass(frozen=True)
class Accept:
    cluster_name: str
    epoch: int
    ballot: Ballot
    value: Membership
    previous: Membership
    formation: tuple[str, ...] = ()
    known: QsState | None = None  # to the quorum server only, as in QuorumPing
    pending: bool = False


@dataclass(frozen=True)
class AcceptReply:
    epoch: int
    ballot: Ballot
    accepted: bool
    promised_ballot: Ballot | None
    last_decided: Membership
    qs: QsState | None = None  # from the quorum server only, as in QuorumPong
    refusal: str = ""


@dataclass(frozen=True)
class Learn:
    """A decision. `takeover_waits` (not in proto yet) are (node, ns) still to wait,
    counted from when this message was sent, before the node's packages may be taken
    over; the coordinator stretches them by (1 + rho) for its own clock."""

    cluster_name: str
    decided: Membership
    takeover_waits: tuple[tuple[str, int], ...] = field(default=())
    known: QsState | None = None  # to the quorum server only, as in QuorumPing
    pending: bool = False


@dataclass(frozen=True)
class GetDecision:
    epoch: int  # 0: the latest


@dataclass(frozen=True)
class Decision:
    """The answer to GetDecision. The node that decided `decided` adds the takeover
    waits, as in Learn (not in proto yet), so a coordinator that learns it this way
    does not fall back to waiting a whole MT x (1 + rho)."""

    decided: Membership
    takeover_waits: tuple[tuple[str, int], ...] = ()


Message = (
    Ping
    | Pong
    | QuorumPing
    | QuorumPong
    | Poll
    | PollReply
    | Prepare
    | PrepareReply
    | Accept
    | AcceptReply
    | Learn
    | GetDecision
    | Decision
)
