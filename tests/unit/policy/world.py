"""A mutable cluster that builds policy snapshots and applies decisions, the way the
coordinator will: the scenario files and the random tests drive the engine through it."""

from dataclasses import dataclass, field

from cluster.core.policy import decide
from cluster.core.policy_model import (
    ActionKind,
    Decision,
    HaltRequest,
    Instance,
    InstanceState,
    Outcome,
    PackageSpec,
    PackageState,
    Request,
    RunRequest,
    Snapshot,
)


@dataclass
class World:
    nodes: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    coordinator: str = ""
    epoch: int = 0
    released: set[str] = field(default_factory=set)
    halting: set[str] = field(default_factory=set)
    specs: dict[str, PackageSpec] = field(default_factory=dict)
    instances: dict[str, dict[str, InstanceState]] = field(default_factory=dict)
    auto_run: dict[str, bool] = field(default_factory=dict)
    disabled: dict[str, set[str]] = field(default_factory=dict)
    failed: dict[str, set[str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    maintenance: dict[str, str] = field(default_factory=dict)  # package -> its node
    last: Decision | None = None
    partial: set[tuple[str, str]] = field(default_factory=set)  # partial halts in flight

    def add(self, spec: PackageSpec, auto_run: bool = True) -> None:
        self.specs[spec.name] = spec
        self.instances[spec.name] = {}
        self.auto_run[spec.name] = auto_run
        self.disabled[spec.name] = set()
        self.failed[spec.name] = set()

    def set_members(self, members: list[str], coordinator: str = "") -> None:
        """A new decided membership: a node leaving loses its lease (its packages stop,
        once its takeover is allowed); a node joining reports nothing."""
        self.members = tuple(sorted(members))
        self.coordinator = coordinator or (self.members[0] if self.members else "")
        self.epoch += 1
        self.released -= set(self.members)
        self.halting &= set(self.members)

    def release(self, nodes: set[str]) -> None:
        """Takeover allowed: those nodes surely hold no lease, so hold no package."""
        self.released = set(nodes)
        for held in self.instances.values():
            for node in nodes:
                held.pop(node, None)

    def snapshot(self) -> Snapshot:
        states = tuple(
            PackageState(
                name=name,
                instances=tuple(Instance(n, s) for n, s in sorted(self.instances[name].items())),
                auto_run=self.auto_run[name],
                disabled_nodes=frozenset(self.disabled[name]),
                failed_nodes=frozenset(self.failed[name]),
                maintenance=self.maintenance.get(name, ""),
            )
            for name in self.specs
        )
        return Snapshot(
            epoch=self.epoch,
            members=self.members,
            coordinator=self.coordinator,
            nodes=self.nodes,
            packages=tuple(self.specs.values()),
            states=states,
            released=frozenset(self.released),
            halting=frozenset(self.halting),
            requests=tuple(self.requests),
        )

    def decide(self) -> Decision:
        """Decide; the commands are answered at once (so dropped, unless waiting) and
        the flags they change persisted, as the coordinator does before sending."""
        decision = decide(self.snapshot())
        for name in decision.auto_run_off:
            self.auto_run[name] = False
        self.requests = [a.request for a in decision.answers if a.outcome is Outcome.WAITING]
        self.last = decision
        return decision

    def send(self) -> None:
        """Send the last decision's actions: each is recorded as in flight."""
        decision = self.last
        assert decision is not None, "send before decide"
        for action in decision.actions:
            state = InstanceState.STARTING
            if action.kind is ActionKind.HALT:
                state = InstanceState.HALTING
                if action.modules:  # maintenance mode: the rest stays up
                    self.partial.add((action.package, action.node))
            self.instances[action.package][action.node] = state
        self.last = None

    def done(self) -> None:
        """Every start and halt in flight completes."""
        for held in self.instances.values():
            for node, state in list(held.items()):
                if state is InstanceState.STARTING:
                    held[node] = InstanceState.RUNNING
                elif state is InstanceState.HALTING:
                    self.finish_halt(held, node)

    def finish_halt(self, held: dict[str, InstanceState], node: str) -> None:
        """A halt completes: the instance is gone, unless only some modules halted."""
        name = next(n for n, h in self.instances.items() if h is held)
        if (name, node) in self.partial:
            self.partial.discard((name, node))
            held[node] = InstanceState.RUNNING
        else:
            del held[node]

    def cmmodpkg(self, enable: bool, name: str, node: str | None) -> None:
        """Serviceguard's flags: -e clears failures too (all, or that node's)."""
        if node is None:
            self.auto_run[name] = enable
            if enable:
                self.failed[name].clear()
        elif enable:
            self.disabled[name].discard(node)
            self.failed[name].discard(node)
        else:
            self.disabled[name].add(node)

    def request(
        self, kind: str, name: str, node: str | None, modules: tuple[str, ...] = ()
    ) -> None:
        req: Request = (
            RunRequest(name, node, modules) if kind == "run" else HaltRequest(name, node, modules)
        )
        self.requests.append(req)
