"""Inputs and outputs of the placement engine (`policy.decide`): frozen data, no logic.

The coordinator builds one `Snapshot` from the applied configuration, the decided
membership, what every member reports running, the switching flags and the pending
operator requests; `decide` turns it into a `Decision`. Nothing here imports the config
layer: the daemon converts `cluster.config.model.Package` into `PackageSpec` (see
`PackageSpec` for the mapping).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class PackageType(StrEnum):
    FAILOVER = "failover"
    MULTI_NODE = "multi_node"


class FailoverPolicy(StrEnum):
    CONFIGURED_NODE = "configured_node"
    MIN_PACKAGE_NODE = "min_package_node"


class FailbackPolicy(StrEnum):
    MANUAL = "manual"
    AUTOMATIC = "automatic"


class Condition(StrEnum):
    UP = "up"
    DOWN = "down"


class Location(StrEnum):
    """Where a dependency must hold. For DOWN, ANY_NODE and DIFFERENT_NODE both mean
    Serviceguard's all_nodes: the other package runs nowhere."""

    SAME_NODE = "same_node"
    ANY_NODE = "any_node"
    DIFFERENT_NODE = "different_node"


@dataclass(frozen=True)
class Dependency:
    """DEPENDENCY_CONDITION `package = UP|DOWN` with its DEPENDENCY_LOCATION."""

    package: str
    condition: Condition = Condition.UP
    location: Location = Location.SAME_NODE


@dataclass(frozen=True)
class PackageSpec:
    """What placement needs of one package's configuration.

    From `config.model.Package`: `nodes` is `eligible_nodes(cluster)` (NODE_NAME order,
    `*` expanded), `type`, `failover_policy`, `failback_policy` and `priority` (None for
    no_priority; a lower number is a higher priority) as configured, `dependencies` from
    each `Dependency` (condition lower-cased). AUTO_RUN is not here: it is the runtime
    global switching flag of `PackageState`, initialised from the configuration.
    """

    name: str
    nodes: tuple[str, ...]
    type: PackageType = PackageType.FAILOVER
    failover_policy: FailoverPolicy = FailoverPolicy.CONFIGURED_NODE
    failback_policy: FailbackPolicy = FailbackPolicy.MANUAL
    priority: int | None = None
    dependencies: tuple[Dependency, ...] = ()

    @property
    def is_failover(self) -> bool:
        return self.type is PackageType.FAILOVER

    @property
    def primary(self) -> str:
        """The first NODE_NAME: where AUTOMATIC failback brings the package home."""
        return self.nodes[0] if self.nodes else ""


class InstanceState(StrEnum):
    """What a node holds of a package. A node that holds nothing reports nothing.

    UNCLEAN: a start or halt failed and could not release everything (a halt script
    timed out, an unmount failed): the package may still hold its resources there, so it
    must not start anywhere until an operator cleans up (cmhaltpkg retries the halt)."""

    STARTING = "starting"
    RUNNING = "running"
    HALTING = "halting"
    UNCLEAN = "unclean"


@dataclass(frozen=True)
class Instance:
    node: str
    state: InstanceState = InstanceState.RUNNING


@dataclass(frozen=True)
class PackageState:
    """The runtime state of one package.

    `instances`: what members reported (phase-1 replies after a reformation, package
    events since), plus the last known instances on nodes that left the membership.
    `auto_run`: global switching (cmmodpkg -e/-d; cmhaltpkg turns it off).
    `disabled_nodes`: node switching turned off (cmmodpkg -d -n NODE).
    `failed_nodes`: where the package failed (a failed start, a service out of restarts,
    a monitored subnet down): never started there again automatically until cleared
    (cmmodpkg -e clears all, cmmodpkg -e -n NODE that node). A package that failed and
    halted cleanly has no instance: Serviceguard's "failed" status is this history.
    """

    name: str
    instances: tuple[Instance, ...] = ()
    auto_run: bool = True
    disabled_nodes: frozenset[str] = frozenset()
    failed_nodes: frozenset[str] = frozenset()
    maintenance: str = ""  # cmmodpkg -m on: the one node it may run on, left alone there


@dataclass(frozen=True)
class RunRequest:
    """cmrunpkg [-n NODE] PKG. Without a node the engine picks one as a failover would
    (for a multi_node package: every usable node); the daemon passes the node the
    command was issued on when it wants Serviceguard's "local node" default.
    `modules`: a partial start (cmrunpkg -m/-e, maintenance mode only): start only
    these modules of the package, in its start order (empty: all)."""

    package: str
    node: str | None = None
    modules: tuple[str, ...] = ()

    def describe(self) -> str:
        part = f"(modules {','.join(self.modules)}) " if self.modules else ""
        return f"cmrunpkg {'-n ' + self.node + ' ' if self.node else ''}{part}{self.package}"


@dataclass(frozen=True)
class HaltRequest:
    """cmhaltpkg [-n NODE] PKG: halt it wherever it runs (or only on NODE).
    `modules`: halt only these (cmhaltpkg -s: the services), maintenance mode only."""

    package: str
    node: str | None = None
    modules: tuple[str, ...] = ()

    def describe(self) -> str:
        part = f"(modules {','.join(self.modules)}) " if self.modules else ""
        return f"cmhaltpkg {'-n ' + self.node + ' ' if self.node else ''}{part}{self.package}"


Request = RunRequest | HaltRequest


@dataclass(frozen=True)
class Snapshot:
    """Everything one decision looks at, frozen.

    `nodes`: every configured node. `released`: nodes outside `members` whose takeover is
    allowed (`TakeoverAllowed.at` has passed, or they left cleanly through cmhaltnode, or
    cmruncl -n asserted them down). Any other non-member may still hold a lease and run
    its packages: nothing that could run there is started elsewhere. `halting`: members
    being halted by cmhaltnode, or that can run no package (`blocked` says why: its
    lease guard is not running). `requests`: pending operator requests, oldest first.
    """

    epoch: int
    members: tuple[str, ...]
    coordinator: str
    nodes: tuple[str, ...]
    packages: tuple[PackageSpec, ...]
    states: tuple[PackageState, ...]
    released: frozenset[str] = frozenset()
    halting: frozenset[str] = frozenset()
    requests: tuple[Request, ...] = ()
    blocked: Mapping[str, str] = field(default_factory=dict)
    _specs: Mapping[str, PackageSpec] = field(init=False, repr=False, compare=False)
    _states: Mapping[str, PackageState] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        specs = {p.name: p for p in self.packages}
        states = {s.name: s for s in self.states}
        problems = _problems(self, specs, states)
        if problems:
            raise ValueError(f"policy snapshot of epoch {self.epoch}: " + "; ".join(problems))
        object.__setattr__(self, "_specs", specs)
        object.__setattr__(self, "_states", states)

    def spec(self, name: str) -> PackageSpec:
        return self._specs[name]

    def state(self, name: str) -> PackageState:
        return self._states[name]

    def halting_reason(self, node: str) -> str:
        """Why nothing starts on a halting member, and what runs there leaves."""
        why = self.blocked.get(node)
        return f"{node} runs no package ({why})" if why else f"{node} is halting"


def _problems(
    snap: Snapshot, specs: dict[str, PackageSpec], states: dict[str, PackageState]
) -> list[str]:
    """Inconsistencies that mean the caller built the snapshot wrong (never user input)."""
    problems: list[str] = []
    nodes = set(snap.nodes)
    if len(specs) != len(snap.packages) or len(states) != len(snap.states):
        problems.append("duplicate package names")
    if set(specs) != set(states):
        problems.append(f"specs and states differ: {sorted(set(specs) ^ set(states))}")
    if not set(snap.members) <= nodes:
        problems.append(f"members {sorted(set(snap.members) - nodes)} are not configured")
    if snap.members and snap.coordinator not in snap.members:
        problems.append(f"coordinator {snap.coordinator} is not a member")
    if not set(snap.blocked) <= snap.halting:
        problems.append(f"blocked nodes {sorted(set(snap.blocked) - snap.halting)} not halting")
    if not snap.halting <= set(snap.members):
        problems.append(f"halting nodes {sorted(snap.halting - set(snap.members))} not members")
    if snap.released & set(snap.members):
        problems.append(f"members {sorted(snap.released & set(snap.members))} are released")
    for spec in snap.packages:
        if len(set(spec.nodes)) != len(spec.nodes):
            problems.append(f"package {spec.name} lists a node twice")
        problems.extend(
            f"package {spec.name} depends on unknown package {d.package}"
            for d in spec.dependencies
            if d.package not in specs
        )
        if any(d.package == spec.name for d in spec.dependencies):
            problems.append(f"package {spec.name} depends on itself")
    for state in snap.states:
        seen = [i.node for i in state.instances]
        if len(set(seen)) != len(seen):
            problems.append(f"package {state.name} reports a node twice")
    cycle = _up_cycle(snap.packages, specs)
    if cycle:
        problems.append("dependency cycle " + " -> ".join(cycle))
    return problems


def _up_cycle(packages: tuple[PackageSpec, ...], specs: dict[str, PackageSpec]) -> list[str]:
    """One cycle of UP dependencies, if any (the configuration refuses them): peel off
    packages whose dependencies are all peeled; what remains holds a cycle."""
    targets = {
        p.name: sorted(
            {d.package for d in p.dependencies if d.condition is Condition.UP} & set(specs)
        )
        for p in packages
    }
    waiting_on = {name: len(ts) for name, ts in targets.items()}
    needed_by: dict[str, list[str]] = {name: [] for name in targets}
    for name, ts in targets.items():
        for target in ts:
            needed_by[target].append(name)
    ready = [name for name, count in waiting_on.items() if count == 0]
    while ready:
        done = ready.pop()
        for name in needed_by[done]:
            waiting_on[name] -= 1
            if waiting_on[name] == 0:
                ready.append(name)
    remaining = {name for name, count in waiting_on.items() if count > 0}
    if not remaining:
        return []
    path = [min(remaining)]
    while True:
        step = next(t for t in targets[path[-1]] if t in remaining)
        if step in path:
            return [*path[path.index(step) :], step]
        path.append(step)


class ActionKind(StrEnum):
    START = "start"
    HALT = "halt"


@dataclass(frozen=True)
class Action:
    """Start or halt `package` on `node`, ordered by the coordinator of `epoch`.

    A node performs an action only while its own current epoch equals `epoch`, and
    refuses it otherwise: an order from a coordinator that has since been replaced must
    never start anything. `reason` is one sentence for the logs and cmviewcl.
    """

    kind: ActionKind
    package: str
    node: str
    epoch: int
    reason: str
    modules: tuple[str, ...] = ()  # only these modules (maintenance mode); empty: all

    def describe(self) -> str:
        part = f" (modules {','.join(self.modules)})" if self.modules else ""
        return f"{self.kind} {self.package}{part} on {self.node}"


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # its actions are in this decision: answer the command
    REFUSED = "refused"  # nothing will happen: answer the command with the reason
    WAITING = "waiting"  # keep it in the next snapshot (it waits on another request)


@dataclass(frozen=True)
class Answer:
    request: Request
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class Wait:
    """A package that is not where it should be yet, and why (shown by cmviewcl -v)."""

    package: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """What the coordinator does now.

    Effect order for the daemon: first persist `auto_run_off` (accepted cmhaltpkg turns
    global switching off, as in Serviceguard), then record every action's instance as
    starting/halting in its own view (so the next decision cannot repeat it), then send
    `actions` in order (halts before starts; starts in priority order), then answer the
    requests. Re-run `decide` on every membership change, package report, flag change,
    request and when a `TakeoverAllowed` comes due.
    """

    epoch: int
    actions: tuple[Action, ...]
    answers: tuple[Answer, ...]
    auto_run_off: tuple[str, ...]
    waits: tuple[Wait, ...]
    summary: str
