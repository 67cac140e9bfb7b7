"""Operator requests (cmrunpkg, cmhaltpkg) checked against a snapshot.

Serviceguard's rules, which an operator expects: cmrunpkg starts a halted package only
on a member that is in its node list with node switching enabled and where it has not
failed (cmmodpkg -e -n NODE clears both), only when what it depends on runs (or is asked
to run in the same batch) and never forces another package to halt; it leaves AUTO_RUN
as it is. cmhaltpkg halts a package wherever it runs (or on the named nodes), refuses
while a package that depends on it runs unless that one is halted in the same batch,
and turns AUTO_RUN off. A package with an instance starting or halting is refused: retry
once it settles.

Maintenance mode (cmmodpkg -m on, Serviceguard's rules): the package runs only on its
maintenance node; there the operator may start it in part (`RunRequest.modules`), start
what is missing of it, or halt some modules only (`HaltRequest.modules`): these
`partial` orders go to that node at once and do not move the package. Its UP
dependencies are bypassed (what it depends on may halt and move meanwhile); a package
that depends on it runs only if it is in maintenance too. Partial orders are refused
for a package not in maintenance.
"""

from dataclasses import dataclass, field

from cluster.core.policy_facts import Facts
from cluster.core.policy_model import (
    Action,
    ActionKind,
    Condition,
    FailbackPolicy,
    FailoverPolicy,
    HaltRequest,
    InstanceState,
    Location,
    RunRequest,
)


@dataclass
class Checked:
    """What survives the checks: request index -> (package, nodes), refusals by index,
    and the pins the placement must honour."""

    runs: dict[int, tuple[str, frozenset[str]]] = field(default_factory=dict)
    halts: dict[int, tuple[str, frozenset[str]]] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    run_pins: dict[str, frozenset[str]] = field(default_factory=dict)
    halt_pins: dict[str, frozenset[str] | None] = field(default_factory=dict)
    partial: dict[int, Action] = field(default_factory=dict)  # maintenance, on its node


def check_requests(facts: Facts) -> Checked:
    out = Checked()
    seen: set[str] = set()
    for i, request in enumerate(facts.snap.requests):
        name = request.package
        if name not in facts.at:
            out.refused[i] = f"there is no package {name}"
            continue
        if name in seen:
            out.refused[i] = f"an earlier request for {name} is pending"
            continue
        seen.add(name)
        maintenance = facts.state(name).maintenance
        if request.modules and not maintenance:
            out.refused[i] = (
                f"{name} is not in maintenance mode: a partial start or halt needs it "
                f"(cmmodpkg -d {name}; cmmodpkg -m on -n NODE {name})"
            )
            continue
        if maintenance:
            partial = _maintenance(facts, request)
            if isinstance(partial, str):
                out.refused[i] = partial
                continue
            if partial is not None:
                out.partial[i] = partial
                continue
        if isinstance(request, RunRequest):
            targets = _run_targets(facts, request)
            into = out.runs
        else:
            targets = _halt_targets(facts, request)
            into = out.halts
        if isinstance(targets, str):
            out.refused[i] = targets
        else:
            into[i] = (name, targets)
    _dependencies(facts, out)
    out.run_pins = {name: nodes for name, nodes in out.runs.values()}
    for i, (name, nodes) in out.halts.items():
        request = facts.snap.requests[i]
        out.halt_pins[name] = nodes if request.node else None
    return out


def _maintenance(facts: Facts, request: RunRequest | HaltRequest) -> Action | str | None:
    """A request for a package in maintenance on node M: refused (why), a partial order
    for M, or None for the ordinary path (a start from nothing pinned to M, a whole
    halt)."""
    name = request.package
    home = facts.state(name).maintenance
    if request.node is not None and request.node != home:
        return f"{name} is in maintenance mode on {home}: it runs only there"
    held = facts.at[name].get(home)
    if home in facts.snap.halting:
        return f"{facts.snap.halting_reason(home)}: {name}, in maintenance mode there, halts"
    elsewhere = sorted(n for n in facts.at[name] if n != home)
    if elsewhere:
        return f"{name} is held on {elsewhere[0]}, not on its maintenance node {home}"
    if held in (InstanceState.STARTING, InstanceState.HALTING):
        return f"{name} is {held} on {home}: retry once it settles"
    epoch = facts.snap.epoch
    if isinstance(request, RunRequest):
        if held is InstanceState.UNCLEAN:
            return f"{name} could not be halted cleanly on {home}: cmhaltpkg {name} first"
        if held is None:
            return None
        what = ", ".join(request.modules) if request.modules else "every module"
        why = f"the operator starts what is missing of {what} (maintenance mode)"
        return Action(ActionKind.START, name, home, epoch, why, request.modules)
    if held is None:
        return f"{name} is not running"
    if not request.modules:
        return None
    if held is InstanceState.UNCLEAN:
        return f"{name} could not be halted cleanly on {home}: cmhaltpkg {name} halts it whole"
    why = f"the operator halts its {', '.join(request.modules)} only (maintenance mode)"
    return Action(ActionKind.HALT, name, home, epoch, why, request.modules)


def _run_targets(facts: Facts, request: RunRequest) -> frozenset[str] | str:
    name = request.package
    spec = facts.spec(name)
    node = request.node or facts.state(name).maintenance or None
    if not facts.state(name).maintenance:
        for dep in spec.dependencies:
            if facts.state(dep.package).maintenance:
                return (
                    f"{dep.package}, which {name} depends on, is in maintenance mode: "
                    f"{name} runs only in maintenance mode too"
                )
    if node is not None:
        held = facts.at[name].get(node)
        if held is not None:
            return f"{name} is already {held} on {node}"
        skip = facts.skip_reason(name, node)
        if skip:
            return f"{name} cannot run on {node}: {skip}{_hint(skip, name, node)}"
    if spec.is_failover:
        for held_node, state in sorted(facts.at[name].items()):
            return f"{name} is already {state} on {held_node}"
        blocker = facts.blocker(name)
        if blocker:
            return f"{name} may still run on {blocker}, whose takeover is not allowed yet"
    if node is not None:
        return frozenset({node})
    usable = [n for n in spec.nodes if n not in facts.at[name] and not facts.skip_reason(name, n)]
    if not usable:
        reasons = "; ".join(r for n in spec.nodes if (r := facts.skip_reason(name, n)))
        return f"no node can run {name}" + (f": {reasons}" if reasons else "")
    if not spec.is_failover:
        return frozenset(usable)
    ready = [n for n in usable if not _node_problem(facts, name, n, {}, {})] or usable
    if spec.failback_policy is FailbackPolicy.AUTOMATIC and spec.primary in ready:
        return frozenset({spec.primary})
    if spec.failover_policy is FailoverPolicy.MIN_PACKAGE_NODE:

        def load(n: str) -> tuple[int, int]:
            count = sum(1 for p in facts.order if facts.spec(p).is_failover and n in facts.at[p])
            return count, spec.nodes.index(n)

        return frozenset({min(ready, key=load)})
    return frozenset({ready[0]})


def _hint(skip: str, name: str, node: str) -> str:
    if skip.startswith("node switching") or skip.startswith("it failed"):
        return f" (cmmodpkg -e -n {node} {name} clears it)"
    return ""


def _halt_targets(facts: Facts, request: HaltRequest) -> frozenset[str] | str:
    name, node = request.package, request.node
    held = facts.at[name]
    if node is not None and node not in held:
        return f"{name} is not running on {node}"
    targets = {node: held[node]} if node is not None else dict(held)
    if not targets:
        return f"{name} is not running"
    for n, state in sorted(targets.items()):
        if state is InstanceState.STARTING:
            return f"{name} is starting on {n}: halt it once it runs"
        if state is InstanceState.HALTING:
            return f"{name} is already halting on {n}"
    return frozenset(targets)


def _dependencies(facts: Facts, out: Checked) -> None:
    """Refuse runs whose dependencies neither run nor are asked to run, and halts that
    would leave a running dependent behind, until nothing changes (a refusal can make
    another request's dependency fail)."""
    changed = True
    while changed:
        changed = False
        runs = {name: nodes for name, nodes in out.runs.values()}
        halts = {name: nodes for name, nodes in out.halts.values()}
        for i, (name, nodes) in list(out.runs.items()):
            problems = {n: _node_problem(facts, name, n, runs, halts) for n in sorted(nodes)}
            fine = frozenset(n for n, problem in problems.items() if not problem)
            if fine == nodes:
                continue
            changed = True
            if fine and facts.snap.requests[i].node is None and not facts.spec(name).is_failover:
                out.runs[i] = (name, fine)
            else:
                del out.runs[i]
                out.refused[i] = next(p for p in problems.values() if p)
        for i, (name, nodes) in list(out.halts.items()):
            problem = _dependent_problem(facts, name, nodes, halts)
            if problem:
                del out.halts[i]
                out.refused[i] = problem
                changed = True


def _node_problem(
    facts: Facts,
    name: str,
    node: str,
    runs: dict[str, frozenset[str]],
    halts: dict[str, frozenset[str]],
) -> str:
    """Why `name` may not be run on `node` by the operator now ("" if it may): what it
    depends on must run (or be asked to run) there; what it excludes must not. In
    maintenance mode, UP dependencies are bypassed, and none counts between two
    packages in maintenance."""
    maintenance = bool(facts.state(name).maintenance)
    for dep in facts.spec(name).dependencies:
        target = dep.package
        if maintenance and (dep.condition is Condition.UP or facts.state(target).maintenance):
            continue
        up = {
            n
            for n, s in facts.at[target].items()
            if s is InstanceState.RUNNING and n not in halts.get(target, frozenset())
        } | set(runs.get(target, frozenset()))
        if dep.condition is Condition.UP:
            if dep.location is Location.SAME_NODE:
                ok, where = node in up, f" on {node}"
            elif dep.location is Location.DIFFERENT_NODE:
                ok, where = bool(up - {node}), " on another node"
            else:
                ok, where = bool(up), ""
            if not ok:
                return f"{target}, which {name} depends on, is not running{where}: run it first"
        else:
            there = facts.present(target) | set(runs.get(target, frozenset()))
            if dep.location is Location.SAME_NODE and node in there:
                return f"{target} runs on {node}, and {name} excludes it there"
            if dep.location is not Location.SAME_NODE and (there or facts.blocker(target)):
                return f"{target} is up, and {name} excludes it"
    return ""


def _dependent_problem(
    facts: Facts, name: str, nodes: frozenset[str], halts: dict[str, frozenset[str]]
) -> str:
    """A package that depends on `name` and would lose it, unless halted as well."""
    for dependent, dep in facts.dependents[name]:
        if facts.state(dependent).maintenance:
            continue  # its UP dependencies are bypassed in maintenance mode
        for holder in sorted(facts.at[dependent]):
            if holder in halts.get(dependent, frozenset()):
                continue
            if any(facts.relies(holder, dep.location, name, n, set(nodes)) for n in nodes):
                return f"{dependent} depends on {name}: halt {dependent} first or with it"
    return ""
