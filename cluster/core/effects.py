"""Events into a node's core and effects out of it.

A driver (the daemon, or the simulator) feeds `Event`s to `MemberNode.handle` and
performs the returned effects **in order**. The one ordering rule:

    An effect that follows a `Persist` in some call's output may depend on it only
    through the core: the core itself holds back every message whose content relies on
    persisted state (a promise, an acceptance, a decision, the proposer's own promise
    before its Prepare goes out) until the driver reports `Persisted(seq)` for that
    persist. So the driver may send a `Send` as soon as it sees it, and must report
    `Persisted(seq)` only once the state is durable (written, fsync'd, renamed into
    place), and in seq order. A lost persist (crash) must not be reported.

Everything else (pings, pongs, lease effects) goes out at once: heartbeats never wait
for a disk. Times are integer nanoseconds of the node's own monotonic clock.
"""

from dataclasses import dataclass

from cluster.core.messages import Membership, Message, QsState
from cluster.core.paxos import AcceptorState

# ---------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Received:
    """A message from `sender` (the transport's authenticated peer name)."""

    now: int
    sender: str
    message: Message


@dataclass(frozen=True)
class Tick:
    """Time passed; sent when the last `WakeAt` time is reached (early ticks are fine)."""

    now: int


@dataclass(frozen=True)
class Persisted:
    """The `Persist` effect with this seq (and every earlier one) is durable."""

    now: int
    seq: int


@dataclass(frozen=True)
class RunNode:
    """cmrunnode (or AUTO_START at boot): become a member, joining a running cluster."""


@dataclass(frozen=True)
class HaltNode:
    """cmhaltnode, sent once this node's packages are halted or moved: surrender the
    lease (LeaseLost) and leave through a decided epoch. The new coordinator may take
    over stop margin x (1 + rho) after it hears the node leaving, so anything still
    running must be stopped within the stop margin of that LeaseLost."""


@dataclass(frozen=True)
class RunCluster:
    """cmruncl: form the cluster with every configured node, or with `nodes` (-n: the
    operator asserts the others are down). Refused if any cluster is running."""

    nodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HaltCluster:
    """cmhaltcl, sent once every package is halted: decide the empty membership."""


Command = RunNode | HaltNode | RunCluster | HaltCluster


@dataclass(frozen=True)
class Operator:
    now: int
    command: Command


Event = Received | Tick | Persisted | Operator

# --------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class Durable:
    """All a node must find again after a crash: the last decided membership and its
    acceptor state for the next epoch (promise and accepted value)."""

    decided: Membership
    acceptor: AcceptorState
    # The newest quorum-server state this node saw, and the epoch up to which it counts
    # no vote of it (a state that does not continue the one it knew: an operator reset).
    qs: QsState | None = None
    qs_floor: int = 0


@dataclass(frozen=True)
class QuorumSlot:
    """The quorum server's durable state for one cluster: its acceptor, which state
    this is (`qs`), and `lost`, the reason it refuses to vote until an operator resets
    the cluster ("" while it votes)."""

    cluster_name: str
    acceptor: AcceptorState
    decided: Membership  # the newest membership it heard of (for answers, not safety)
    qs: QsState | None = None
    lost: str = ""
    # After an operator reset: no vote for an epoch up to `floor`, the epoch after the
    # newest decided one any node of `seen` (those that spoke since) knew then.
    floor: int = 0
    seen: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuorumDurable:
    slots: tuple[QuorumSlot, ...]


@dataclass(frozen=True)
class Send:
    to: str  # a node name, or messages.QUORUM_SERVER
    message: Message


@dataclass(frozen=True)
class WakeAt:
    """Deliver a `Tick` at local time `at` (replaces any earlier WakeAt)."""

    at: int


@dataclass(frozen=True)
class Persist:
    """Make `state` durable, then report `Persisted(seq)`."""

    seq: int
    state: Durable | QuorumDurable


@dataclass(frozen=True)
class LeaseGained:
    """This node may run packages until `deadline` (local); it must begin stopping
    them at `deadline - stop_margin`. `basis_epoch` and `support` say which membership
    and which answers (node names, QUORUM_SERVER, itself) make the lease."""

    epoch: int
    deadline: int
    basis_epoch: int
    support: frozenset[str]


@dataclass(frozen=True)
class LeaseChanged:
    """The deadline moved: later as answers arrive, earlier when this node promised for
    the next epoch (it stops supporting its own lease too). Pass it to the guard at
    once: the promise reply that relies on it only leaves after the next persist."""

    epoch: int
    deadline: int
    basis_epoch: int
    support: frozenset[str]


@dataclass(frozen=True)
class LeaseLost:
    """Stop every package now (stop-now path); the lease ends at `deadline`."""

    epoch: int
    deadline: int
    reason: str


@dataclass(frozen=True)
class MembershipDecided:
    """A newer membership is known here (its persist may still be in flight: acting on
    it early is harmless, since a node that restarts is active in no epoch it knew)."""

    membership: Membership
    previous: Membership


@dataclass(frozen=True)
class TakeoverAllowed:
    """On the coordinator of `epoch`: `node` (not a member of it) surely holds no lease
    from local time `at` on, so its packages may be started elsewhere then. Sent once
    per node and epoch, and again only with an earlier `at` (the decider's waits
    arrived after the coordinator learned the decision another way)."""

    node: str
    epoch: int
    at: int


@dataclass(frozen=True)
class CommandDone:
    command: Command
    ok: bool
    detail: str


@dataclass(frozen=True)
class Note:
    """One sentence for the log saying what the node decided and why."""

    text: str


Effect = (
    Send
    | WakeAt
    | Persist
    | LeaseGained
    | LeaseChanged
    | LeaseLost
    | MembershipDecided
    | TakeoverAllowed
    | CommandDone
    | Note
)
