"""Where every package should run, given one snapshot: the target of a decision.

`place` computes the target from scratch each time, so the engine is level-triggered:
whatever happened before, the same snapshot gives the same target, and moving toward it
step by step (halt, report, start) never changes it. That is why AUTOMATIC failback
places a halted package on its primary node when it can (it would fail back there at
once otherwise), and why a package halted to move is placed where the move was going.

Packages are placed one at a time: multi_node packages first, then failover packages by
PRIORITY (a number before no_priority, lower numbers first), a package after what it
depends on unless it outranks it, then by name. An outranking package drags its
same_node dependencies to the node it picks (Serviceguard's dragging rules); without
priorities the dependent follows what it depends on.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from cluster.core.policy_facts import Facts, beats
from cluster.core.policy_model import (
    Condition,
    Dependency,
    FailbackPolicy,
    FailoverPolicy,
    InstanceState,
    Location,
    PackageSpec,
)

HERE = (InstanceState.RUNNING, InstanceState.STARTING)


@dataclass
class Placement:
    """The target: the nodes each package should run on (one or none for a failover
    package), why (one clause per failover package) and, for each running instance that
    is not kept, why it leaves."""

    nodes: dict[str, frozenset[str]] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    leave: dict[tuple[str, str], str] = field(default_factory=dict)


def place(
    facts: Facts,
    run_pins: dict[str, frozenset[str]],
    halt_pins: dict[str, frozenset[str] | None],
) -> Placement:
    """The target placement. `run_pins`: accepted cmrunpkg (package -> nodes);
    `halt_pins`: accepted cmhaltpkg (package -> nodes, None for every node)."""
    return _Placer(facts, run_pins, halt_pins).run()


class _Placer:
    def __init__(
        self,
        facts: Facts,
        run_pins: dict[str, frozenset[str]],
        halt_pins: dict[str, frozenset[str] | None],
    ) -> None:
        self.f = facts
        self.run_pins = run_pins
        self.halt_pins = halt_pins
        self.out = Placement()
        self.load: dict[str, set[str]] = {n: set() for n in facts.members}
        for name in facts.order:
            if facts.spec(name).is_failover:
                for node in facts.at[name]:
                    self.load[node].add(name)

    def run(self) -> Placement:
        for name in self.f.order:
            pinned = self.run_pins.get(name)
            if pinned and self.f.spec(name).is_failover:
                (node,) = pinned
                self._put(name, pinned, f"the operator runs it on {node} (cmrunpkg)")
                self._keep_dependencies(self.f.spec(name), node)
        for name in self.f.order:
            if name in self.out.nodes:
                continue
            spec = self.f.spec(name)
            if spec.is_failover:
                self._failover(spec)
            else:
                self._multi_node(spec)
        return self.out

    # -- failover packages ------------------------------------------------------------

    def _failover(self, p: PackageSpec) -> None:
        f, name = self.f, p.name
        stuck = f.stuck(name)
        if stuck:
            self._put(name, (), stuck)
            for node, state in f.at[name].items():
                if state is InstanceState.RUNNING:
                    self.out.leave[(name, node)] = stuck
            return
        if name in self.halt_pins:
            self._put(name, (), "the operator halts it (cmhaltpkg)")
            for node in f.at[name]:
                self.out.leave[(name, node)] = "the operator halts it (cmhaltpkg)"
            return
        if f.state(name).maintenance:
            self._maintenance(p)
            return
        auto_run = f.state(name).auto_run
        current = next((n for n, s in f.at[name].items() if s in HERE), None)
        if current is None:
            if not auto_run:
                self._put(name, (), "AUTO_RUN is disabled")
            else:
                self._choose(p, self._fresh(p))
            return
        problem = self._stay_problem(p, current)
        if problem is None:
            if self._fails_back(p, current):
                primary = p.primary
                self.out.leave[(name, current)] = f"it fails back to its primary node {primary}"
                self._put(name, {primary}, f"{primary} is its primary node")
                self._drag(p, primary, p)
                return
            self._put(name, {current}, f"it stays on {current}")
            self._drag(p, current, p)
            return
        if f.at[name][current] is InstanceState.STARTING:
            self._put(name, (), f"it is starting on {current}, then leaves it ({problem})")
            return
        self.out.leave[(name, current)] = problem
        if not auto_run:
            self._put(name, (), f"AUTO_RUN is disabled, so it does not fail over ({problem})")
            return
        self._choose(p, self._fresh(p), f"it leaves {current} ({problem}); ")

    def _maintenance(self, p: PackageSpec) -> None:
        """In maintenance mode the package stays where it is, whatever its dependencies
        do, and starts only when the operator runs it (a run pin); only its node
        halting takes it down (Serviceguard: the node's halt ends maintenance)."""
        f, name = self.f, p.name
        home = f.state(name).maintenance
        current = next((n for n, s in f.at[name].items() if s in HERE), None)
        if current is None:
            self._put(name, (), f"it is in maintenance mode on {home}: the operator runs it")
        elif current in f.snap.halting:
            reason = f.snap.halting_reason(current)
            self._put(name, (), reason)
            if f.at[name][current] is InstanceState.RUNNING:
                self.out.leave[(name, current)] = reason
        else:
            self._put(name, {current}, f"it is in maintenance mode on {current}")

    def _stay_problem(self, p: PackageSpec, node: str) -> str | None:
        """Why a running package may not stay where it runs (None: it may). Node
        switching, failure history and AUTO_RUN never move a running package."""
        if node in self.f.snap.halting:
            return self.f.snap.halting_reason(node)
        for dep in p.dependencies:
            problem = self._lost_now(dep, node) if dep.condition is Condition.UP else None
            if problem:
                return problem
        return self._dependency_problem(p, node, p, frozenset({p.name}))

    def _lost_now(self, dep: Dependency, node: str) -> str | None:
        """Why an UP dependency is not met right now by a running instance that stays
        (None: it is). A package whose dependency went down halts, even where it will
        run again once the dependency is back (Serviceguard halts such dependents)."""
        running = {n for n, s in self.f.at[dep.package].items() if s is InstanceState.RUNNING}
        placed = self.out.nodes.get(dep.package)
        kept = running if placed is None else running & placed
        if dep.location is Location.SAME_NODE:
            held, ok, where = node in running, node in kept, f" on {node}"
        elif dep.location is Location.DIFFERENT_NODE:
            held, ok, where = bool(running - {node}), bool(kept - {node}), " on another node"
        else:
            held, ok, where = bool(running), bool(kept), ""
        if ok:
            return None
        if held:
            return f"{dep.package}, which it depends on, leaves{where}"
        return f"{dep.package}, which it depends on, is not up{where}"

    def _fails_back(self, p: PackageSpec, current: str) -> bool:
        """AUTOMATIC failback: back to the primary node when that is where the package
        would be placed now, AUTO_RUN is on, and no package that relies on it and is
        not outranked by it would have to move (Serviceguard: "unless doing so would
        also force a package with a higher priority to move")."""
        name = p.name
        if (
            p.failback_policy is not FailbackPolicy.AUTOMATIC
            or self.f.state(name).maintenance
            or current == p.primary
            or self.f.at[name][current] is not InstanceState.RUNNING
            or not self.f.state(name).auto_run
        ):
            return False
        for dependent, dep in self.f.dependents[name]:
            holders = self.f.at[dependent]
            relies = current in holders if dep.location is Location.SAME_NODE else bool(holders)
            if relies and not beats(p, self.f.spec(dependent)):
                return False
        choice, _ = self._fresh(p)
        return choice == p.primary

    def _fresh(self, p: PackageSpec) -> tuple[str | None, str]:
        """Where the package would start now, and why (or why nowhere)."""
        usable: list[str] = []
        skipped: list[tuple[str, str]] = []
        for node in p.nodes:
            problem = self.f.skip_reason(p.name, node) or self._dependency_problem(
                p, node, p, frozenset({p.name})
            )
            if problem:
                skipped.append((node, problem))
            else:
                usable.append(node)
        if not usable:
            reasons = list(dict.fromkeys(s for _, s in skipped))
            return None, "no node can run it: " + "; ".join(reasons[:4])
        if p.failback_policy is FailbackPolicy.AUTOMATIC and p.primary in usable:
            return p.primary, f"{p.primary} is its primary node"
        if p.failover_policy is FailoverPolicy.MIN_PACKAGE_NODE:
            node = min(usable, key=lambda n: (self._load(n, p.name), p.nodes.index(n)))
            return node, f"{node} runs the fewest packages ({self._load(node, p.name)})"
        node = usable[0]
        if node == p.primary:
            return node, f"{node} is its primary node"
        before = "; ".join(s for n, s in skipped if p.nodes.index(n) < p.nodes.index(node))
        return node, f"{node} is the first usable node of its list ({before})"

    def _choose(self, p: PackageSpec, choice: tuple[str | None, str], prefix: str = "") -> None:
        node, why = choice
        self._put(p.name, {node} if node else (), prefix + why)
        if node:
            self._drag(p, node, p)

    def _load(self, node: str, name: str) -> int:
        return len(self.load.get(node, set()) - {name})

    # -- dependencies -----------------------------------------------------------------

    def _dependency_problem(
        self, x: PackageSpec, node: str, leader: PackageSpec, seen: frozenset[str]
    ) -> str | None:
        """Why `x` cannot run on `node` given what is placed so far (None: it can).
        A same_node dependency not placed yet can be dragged along when `leader`
        outranks it."""
        for dep in x.dependencies:
            target = self.f.spec(dep.package)
            placed = self.out.nodes.get(target.name)
            if dep.condition is Condition.UP:
                problem = self._up_problem(dep.location, target, placed, node, (leader, seen))
            else:
                problem = self._down_problem(dep.location, x, target, placed, node)
            if problem:
                return problem
        return None

    def _up_problem(
        self,
        location: Location,
        target: PackageSpec,
        placed: frozenset[str] | None,
        node: str,
        dragging: tuple[PackageSpec, frozenset[str]],
    ) -> str | None:
        """An UP dependency; `dragging` is the leader and the packages already dragged."""
        name = target.name
        leader, seen = dragging
        if location is Location.SAME_NODE:
            if placed is not None:
                return None if node in placed else f"{name} will not be up on {node}"
            if target.is_failover and beats(leader, target) and name not in seen:
                return self._drag_problem(target, node, leader, seen | {name})
            return f"{name} will not be up on {node}"
        if location is Location.DIFFERENT_NODE:
            if placed and placed - {node}:
                return None
            return f"{name} will not be up on another node"
        return None if placed else f"{name} will not be up"

    def _down_problem(
        self,
        location: Location,
        x: PackageSpec,
        target: PackageSpec,
        placed: frozenset[str] | None,
        node: str,
    ) -> str | None:
        """A DOWN dependency (exclusion). A package not placed yet is displaced only by
        a package that outranks it; otherwise where it is now counts."""
        name = target.name
        if placed is not None:
            where = placed
        elif beats(x, target):
            where = frozenset()
        else:
            where = self.f.present(name)
        if location is Location.SAME_NODE:
            return f"it excludes {name}, which has {node}" if node in where else None
        if where or self.f.blocker(name):
            return f"it excludes {name}, which is up"
        return None

    def _drag_problem(
        self, d: PackageSpec, node: str, leader: PackageSpec, seen: frozenset[str]
    ) -> str | None:
        """Why `leader` cannot drag `d` to `node` (None: it can)."""
        name = d.name
        if self.f.stuck(name) or name in self.halt_pins or self.f.state(name).maintenance:
            return f"{name} cannot move"
        if self.f.at[name].get(node) not in HERE:
            if not self.f.state(name).auto_run:
                return f"{name} has AUTO_RUN disabled"
            skip = self.f.skip_reason(name, node)
            if skip:
                return f"{name} cannot run on {node}: {skip}"
        return self._dependency_problem(d, node, leader, seen)

    def _drag(self, x: PackageSpec, node: str, leader: PackageSpec) -> None:
        """Place x's same_node dependencies that `leader` outranks on `node` with it."""
        for dep in x.dependencies:
            d = self.f.spec(dep.package)
            if (
                dep.condition is not Condition.UP
                or dep.location is not Location.SAME_NODE
                or d.name in self.out.nodes
                or self.f.state(d.name).maintenance
                or not d.is_failover
                or not beats(leader, d)
            ):
                continue
            why = f"{leader.name} (priority {leader.priority}) drags it to {node}"
            for held, state in self.f.at[d.name].items():
                if held != node and state is InstanceState.RUNNING:
                    self.out.leave[(d.name, held)] = why
            self._put(d.name, {node}, why)
            self._drag(d, node, leader)

    def _keep_dependencies(self, p: PackageSpec, node: str) -> None:
        """A package the operator runs on `node` keeps its same_node dependencies
        there (they were checked to run there): nothing pulls them away meanwhile."""
        for dep in p.dependencies:
            d = self.f.spec(dep.package)
            if (
                dep.condition is Condition.UP
                and dep.location is Location.SAME_NODE
                and d.is_failover
                and d.name not in self.out.nodes
                and self.f.at[d.name].get(node) is InstanceState.RUNNING
            ):
                self._put(d.name, {node}, f"{p.name} is run on {node} by the operator")
                self._keep_dependencies(d, node)

    # -- multi_node packages ----------------------------------------------------------

    def _multi_node(self, p: PackageSpec) -> None:
        """Every usable node: where it runs and may stay, and (AUTO_RUN on, or asked
        by cmrunpkg) every eligible node where it may start automatically."""
        f, name = self.f, p.name
        halted = self.halt_pins.get(name, frozenset())
        pinned = self.run_pins.get(name, frozenset())
        auto_run = f.state(name).auto_run and name not in self.halt_pins  # cmhaltpkg: off
        nodes: set[str] = set()
        for node in _union(p.nodes, sorted(f.at[name])):
            state = f.at[name].get(node)
            if halted is None or node in halted:
                if state is InstanceState.RUNNING:
                    self.out.leave[(name, node)] = "the operator halts it (cmhaltpkg)"
                continue
            if state in (InstanceState.HALTING, InstanceState.UNCLEAN):
                continue
            if state in HERE:
                problem = self._stay_problem(p, node)
                if problem is None:
                    nodes.add(node)
                elif state is InstanceState.RUNNING:
                    self.out.leave[(name, node)] = problem
            elif (
                (node in pinned or auto_run)
                and f.skip_reason(name, node) is None
                and self._dependency_problem(p, node, p, frozenset({name})) is None
            ):
                nodes.add(node)
        self._put(name, nodes, "")

    def _put(self, name: str, nodes: Iterable[str], why: str) -> None:
        chosen = frozenset(nodes)
        self.out.nodes[name] = chosen
        self.out.why[name] = why
        if self.f.spec(name).is_failover:
            for held in self.load.values():
                held.discard(name)
            for node in chosen:
                self.load.setdefault(node, set()).add(name)


def _union(first: Iterable[str], then: Iterable[str]) -> list[str]:
    seen: dict[str, None] = dict.fromkeys(first)
    seen.update(dict.fromkeys(then))
    return list(seen)
