"""What the placement session (`session.PlacementSession`) reads and says: members'
package reports, the replicated switching flags, the configuration it places, and its
events and effects. Plain frozen data; protobuf conversion lives in
`cluster/transport/convert_session.py`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from cluster.core.events import Event
from cluster.core.messages import Membership
from cluster.core.policy_model import Action, InstanceState, Outcome, PackageSpec, Request

# ------------------------------------------------------------------------ reports


@dataclass(frozen=True)
class Held:
    """One package a node holds something of (starting, running, halting, or unclean:
    resources may still be held after a failed halt)."""

    package: str
    state: InstanceState
    error: str = ""
    ailing: str = ""  # what is not up of it here (a partial start, a failure ignored
    # in maintenance mode): cmmodpkg -m off is refused until it is whole and healthy


@dataclass(frozen=True)
class Flag:
    """The switching flags of one package (cmmodpkg): global switching (AUTO_RUN),
    node switching turned off, the failure history, and the node of maintenance mode
    (cmmodpkg -m on; "" when off)."""

    package: str
    auto_run: bool = True
    disabled: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    maintenance: str = ""
    home: str = ""  # where it last ran (a failover package): a start elsewhere is a move
    resume: bool = False  # -m on turned switching off: -m off turns it back on


@dataclass(frozen=True)
class Flags:
    """Every package's flags, versioned (epoch of the coordinator that set them, seq
    within it) and replicated to every member, so a new coordinator continues with the
    newest copy any member holds."""

    epoch: int = 0
    seq: int = 0
    packages: tuple[Flag, ...] = ()

    @property
    def version(self) -> tuple[int, int]:
        return (self.epoch, self.seq)

    def get(self, package: str) -> Flag | None:
        return next((f for f in self.packages if f.package == package), None)


@dataclass(frozen=True)
class NodeReport:
    """What one member holds, as it says itself (pushed after each change, asked for
    after a reformation, or returned with an action's outcome).

    `failed`: packages that failed here and are not yet in the flags' history. `errors`:
    the last error of a package here (failed or not). `halting`: cmhaltnode in progress,
    or the node cannot run packages (`blocked` says why: its lease guard is missing,
    say); nothing is started on it and what runs there moves. `seq` orders the reports
    of one cmcld run (`boot`)."""

    node: str
    epoch: int
    held: tuple[Held, ...] = ()
    failed: tuple[str, ...] = ()
    errors: Mapping[str, str] = field(default_factory=dict)
    halting: bool = False
    blocked: str = ""
    flags: Flags = Flags()
    seq: int = 0
    boot: int = 0


@dataclass(frozen=True)
class Layout:
    """The applied configuration as placement sees it."""

    generation: int
    nodes: tuple[str, ...]
    packages: tuple[PackageSpec, ...]
    auto_run: Mapping[str, bool] = field(default_factory=dict)  # AUTO_RUN as configured
    failure_timeout: Mapping[str, int] = field(default_factory=dict)  # ns; absent: never

    def spec(self, name: str) -> PackageSpec | None:
        return next((p for p in self.packages if p.name == name), None)


# ------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Decided:
    """A membership was decided (on every node). `flags`: this node's stored copy;
    `previous`: the membership this node knew before (durable, so after a restart too;
    None: the session's own memory)."""

    now: int
    membership: Membership
    flags: Flags
    previous: Membership | None = None


@dataclass(frozen=True)
class Configured:
    """A configuration generation was applied here."""

    now: int
    layout: Layout | None


@dataclass(frozen=True)
class Reported:
    now: int
    report: NodeReport


@dataclass(frozen=True)
class ReportMissing:
    """Asking `node` for its report failed (not in the epoch yet, or no answer)."""

    now: int
    node: str
    epoch: int


@dataclass(frozen=True)
class ActionDone:
    """The node performed the action; `report` is its report afterwards when the
    driver has it (else the session asks for it)."""

    now: int
    action: Action
    report: NodeReport | None = None


@dataclass(frozen=True)
class ActionRefused:
    """The node answered that it did not perform the action (not in the epoch yet, no
    lease, an address still held elsewhere...): retried after a back-off."""

    now: int
    action: Action
    error: str


@dataclass(frozen=True)
class ActionLost:
    """No answer: the outcome is unknown until the node reports again."""

    now: int
    action: Action
    error: str


@dataclass(frozen=True)
class TakeoverAt:
    """`node`'s packages may start elsewhere from local time `at` (TakeoverAllowed)."""

    now: int
    node: str
    epoch: int
    at: int


@dataclass(frozen=True)
class Requested:
    """cmrunpkg / cmhaltpkg: answered with `Reply(ticket, ...)`."""

    now: int
    ticket: int
    request: Request


@dataclass(frozen=True)
class Modify:
    """cmmodpkg -e|-d [-n NODE]... PKG, or cmmodpkg -m on|off [-n NODE] PKG
    (`maintenance` True/False; `enable` is then unused): answered with
    `Reply(ticket, ...)`."""

    now: int
    ticket: int
    package: str
    enable: bool
    nodes: tuple[str, ...] = ()
    who: str = "an operator"
    maintenance: bool | None = None


@dataclass(frozen=True)
class HaltAll:
    """cmhaltcl -f: halt every package (switching flags unchanged)."""

    now: int


@dataclass(frozen=True)
class Wake:
    """A `WakeAt` time came (early is fine)."""

    now: int


SessionEvent = (
    Decided
    | Configured
    | Reported
    | ReportMissing
    | ActionDone
    | ActionRefused
    | ActionLost
    | TakeoverAt
    | Requested
    | Modify
    | HaltAll
    | Wake
)

# ------------------------------------------------------------------------ effects


@dataclass(frozen=True)
class Ask:
    """Ask `node` for its report of `epoch` at local time `at` (now or later); answer
    with `Reported` or `ReportMissing`."""

    node: str
    epoch: int
    at: int


@dataclass(frozen=True)
class Order:
    """Send the action to its node (perform it here when it is this node); answer with
    `ActionDone`, `ActionRefused` or `ActionLost`."""

    action: Action
    generation: int


@dataclass(frozen=True)
class Publish:
    """Store the flags here; with `push`, send them to every other member too."""

    flags: Flags
    push: bool


@dataclass(frozen=True)
class Reply:
    """The answer to an operator's request: ACCEPTED or REFUSED, with the reason."""

    ticket: int
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class Say:
    """One sentence for the log: level is "info", "warning" or "error"."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class WakeAt:
    at: int


@dataclass(frozen=True)
class Notify:
    """A cluster event for the alert scripts (cluster/core/events.py)."""

    event: Event


SessionEffect = Ask | Order | Publish | Reply | Say | WakeAt | Notify
