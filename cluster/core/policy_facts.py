"""Facts read once from a snapshot: who may run what, where each package is, and the
order in which packages are placed."""

import heapq

from cluster.core.policy_model import (
    Condition,
    Dependency,
    InstanceState,
    Location,
    PackageSpec,
    PackageState,
    Snapshot,
)


def rank(priority: int | None) -> tuple[int, int]:
    """Sort key of PRIORITY: a number before no_priority, lower numbers first."""
    return (1, 0) if priority is None else (0, priority)


def beats(a: PackageSpec, b: PackageSpec) -> bool:
    """Whether `a` outranks `b` (two no_priority packages do not outrank each other)."""
    return rank(a.priority) < rank(b.priority)


class Facts:
    """Derived from one snapshot, read-only.

    `at[p]`: member node -> what it holds of p. `lost[p]`: nodes outside the membership,
    not released, that reported holding p. `unreleased`: every such node, reported or
    not: any of them may still run anything it was eligible for.
    """

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.members = frozenset(snap.members)
        self.up = self.members - snap.halting
        reported = {i.node for s in snap.states for i in s.instances}
        self.unreleased = frozenset((set(snap.nodes) | reported) - self.members - snap.released)
        self.at: dict[str, dict[str, InstanceState]] = {}
        self.lost: dict[str, frozenset[str]] = {}
        for state in snap.states:
            self.at[state.name] = {
                i.node: i.state for i in state.instances if i.node in self.members
            }
            self.lost[state.name] = frozenset(
                i.node for i in state.instances if i.node in self.unreleased
            )
        self.dependents: dict[str, list[tuple[str, Dependency]]] = {
            p.name: [] for p in snap.packages
        }
        for p in sorted(snap.packages, key=lambda p: p.name):
            for dep in p.dependencies:
                if dep.condition is Condition.UP:
                    self.dependents[dep.package].append((p.name, dep))
        self.order = _order(snap.packages)
        self.index = {name: i for i, name in enumerate(self.order)}

    def spec(self, name: str) -> PackageSpec:
        return self.snap.spec(name)

    def state(self, name: str) -> PackageState:
        return self.snap.state(name)

    def present(self, name: str) -> frozenset[str]:
        """Every node that holds anything of the package, as far as anyone knows."""
        return frozenset(self.at[name]) | self.lost[name]

    def running(self, name: str, node: str) -> bool:
        return self.at[name].get(node) is InstanceState.RUNNING

    def blocker(self, name: str) -> str | None:
        """A node outside the membership, whose lease may not have ended, that may run
        this failover package: it must not start anywhere until that node's takeover is
        allowed. (A member instance, reported by a live node, settles where it is.)"""
        spec = self.spec(name)
        if not spec.is_failover or self.at[name]:
            return None
        if self.lost[name]:
            return min(self.lost[name])
        return next((n for n in spec.nodes if n in self.unreleased), None)

    def stuck(self, name: str) -> str | None:
        """Why a failover package can be neither kept nor started anywhere now."""
        if not self.spec(name).is_failover:
            return None
        holders = sorted(self.at[name])
        if len(holders) > 1:
            return f"it is reported on {' and '.join(holders)} at once"
        blocker = self.blocker(name)
        if blocker:
            return f"it may still run on {blocker}, whose takeover is not allowed yet"
        for node, state in self.at[name].items():
            if state is InstanceState.HALTING:
                return f"it is halting on {node}"
            if state is InstanceState.UNCLEAN:
                return (
                    f"it could not be halted cleanly on {node}; an operator must clean up "
                    "(cmhaltpkg retries the halt)"
                )
        return None

    def skip_reason(self, name: str, node: str) -> str | None:
        """Why the package may not start on `node` automatically (None: it may)."""
        state = self.state(name)
        if node not in self.members:
            return f"{node} is not a cluster member"
        if node in self.snap.halting:
            return self.snap.halting_reason(node)
        if node not in self.spec(name).nodes:
            return f"{node} is not in its node list"
        if node in state.disabled_nodes:
            return f"node switching is disabled on {node}"
        if node in state.failed_nodes:
            return f"it failed on {node} before"
        return None

    def relies(
        self, holder: str, location: Location, target: str, node: str, going: set[str]
    ) -> bool:
        """Whether a dependent on `holder` needs `target`'s instance on `node` for its UP
        dependency, when `target`'s instances on `going` are going away too."""
        if location is Location.SAME_NODE:
            return holder == node
        if location is Location.DIFFERENT_NODE and holder == node:
            return False
        others = [
            n
            for n, s in self.at[target].items()
            if s is InstanceState.RUNNING and n != node and n not in going
        ]
        if location is Location.DIFFERENT_NODE:
            others = [n for n in others if n != holder]
        return not others


def _order(packages: tuple[PackageSpec, ...]) -> list[str]:
    """Placement order: multi_node packages, then by PRIORITY and name, each after the
    packages it depends on, except a same_node dependency it outranks (it drags that one
    along). UP dependencies have no cycle (the snapshot refuses them)."""
    specs = {p.name: p for p in packages}
    after: dict[str, set[str]] = {name: set() for name in specs}
    for p in packages:
        for dep in p.dependencies:
            target = specs[dep.package]
            if dep.condition is not Condition.UP or target.name == p.name:
                continue
            drags = (
                dep.location is Location.SAME_NODE
                and p.is_failover
                and target.is_failover
                and beats(p, target)
            )
            if not drags:
                after[p.name].add(target.name)
    needed_by: dict[str, list[str]] = {name: [] for name in specs}
    for name, names in after.items():
        for needed in names:
            needed_by[needed].append(name)

    def key(name: str) -> tuple[bool, tuple[int, int], str]:
        return (specs[name].is_failover, rank(specs[name].priority), name)

    ready = [key(name) for name, targets in after.items() if not targets]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)[2]
        order.append(name)
        for waiting in needed_by[name]:
            after[waiting].discard(name)
            if not after[waiting]:
                heapq.heappush(ready, key(waiting))
    return order
