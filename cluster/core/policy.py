"""The placement engine: `decide(snapshot) -> Decision`, a pure function run by the
coordinator after every membership change, package report, flag change, operator
request and takeover permission (DESIGN.md section 3).

One decision moves every package one safe step toward its target (`placement.place`):

- A package runs on at most one node. A failover package is started only when no
  member holds anything of it and no node outside the membership that could run it
  still may hold a lease (`Snapshot.released`): never while it runs, starts or halts
  anywhere. A move is a halt now and a start in a later decision, after the halt is
  reported; the coordinator records what it sent as starting/halting meanwhile.
- Only running instances are halted; starting ones are left to finish first.
- A package is halted only after everything that relies on it has halted, and started
  only once what it depends on runs (and is not about to move).
- Automatic starts go to members in the package's node list with node switching on,
  where it has not failed, while AUTO_RUN is on; operator requests follow
  `policy_requests`.
- A package in maintenance mode (cmmodpkg -m on) is left where it is: never started,
  halted or moved by the cluster (only by its node halting, or the operator), and its
  UP dependencies are bypassed, so what it depends on may halt and move meanwhile.

Same snapshot, same decision: everything is ordered by placement order and node lists.
"""

from dataclasses import dataclass, field

from cluster.core.placement import Placement, place
from cluster.core.policy_facts import Facts
from cluster.core.policy_model import (
    Action,
    ActionKind,
    Answer,
    Condition,
    Decision,
    HaltRequest,
    InstanceState,
    Location,
    Outcome,
    RunRequest,
    Snapshot,
    Wait,
)
from cluster.core.policy_requests import Checked, check_requests

Instances = dict[tuple[str, str], str]  # (package, node) -> reason, or a package name


@dataclass
class _Step:
    """The instances one decision deals with, each with its reason."""

    leaving: Instances  # running instances the target does not keep
    halts: Instances = field(default_factory=dict)  # leaving ones that halt now
    held_back: Instances = field(default_factory=dict)  # leaving ones waiting for dependents
    starts: Instances = field(default_factory=dict)  # in placement order
    waiting: Instances = field(default_factory=dict)  # targets whose start must wait
    waited_on: Instances = field(default_factory=dict)  # the package each start waits for


def decide(snap: Snapshot) -> Decision:
    facts = Facts(snap)
    checked = check_requests(facts)
    target = place(facts, checked.run_pins, checked.halt_pins)
    step = _Step(_leaving(facts, target, checked))
    _ready_halts(facts, step)
    _starts(facts, target, step)
    halts = sorted(step.halts.items(), key=lambda i: (-facts.index[i[0][0]], i[0][1]))
    modules = {
        r.package: r.modules
        for i, r in enumerate(snap.requests)
        if isinstance(r, RunRequest) and i in checked.runs
    }
    actions = [Action(ActionKind.HALT, p, n, snap.epoch, why) for (p, n), why in halts] + [
        Action(ActionKind.START, p, n, snap.epoch, why, modules.get(p, ()))
        for (p, n), why in step.starts.items()
    ]
    actions += [checked.partial[i] for i in sorted(checked.partial)]
    answers = _answers(facts, checked, step)
    waits = _waits(facts, target, step)
    auto_run_off = tuple(
        sorted(name for name, _ in checked.halts.values() if facts.state(name).auto_run)
    )
    return Decision(
        epoch=snap.epoch,
        actions=tuple(actions),
        answers=answers,
        auto_run_off=auto_run_off,
        waits=waits,
        summary=_summary(facts, actions, answers, waits),
    )


def _leaving(facts: Facts, target: Placement, checked: Checked) -> Instances:
    """Running instances the target does not keep (or restarts: a package whose
    dependency went down halts even where it will run again), plus those that rely on one of them
    (a dependent goes down before what it depends on, whatever the location), plus
    unclean instances the operator asked to halt."""
    leaving: Instances = {}
    for name in facts.order:
        kept = target.nodes[name]
        for node, state in facts.at[name].items():
            if state is InstanceState.RUNNING and (
                node not in kept or (name, node) in target.leave
            ):
                elsewhere = ", ".join(sorted(kept))
                leaving[(name, node)] = target.leave.get((name, node)) or (
                    f"it should run on {elsewhere}" if elsewhere else "it should not run"
                )
            elif state is InstanceState.UNCLEAN and name in checked.halt_pins:
                pinned = checked.halt_pins[name]
                if pinned is None or node in pinned:
                    leaving[(name, node)] = "the operator halts it again (cmhaltpkg)"
    changed = True
    while changed:
        changed = False
        for name, node in list(leaving):
            going = {n for p, n in leaving if p == name}
            for dependent, dep in facts.dependents[name]:
                if facts.state(dependent).maintenance:
                    continue  # left alone: its UP dependencies are bypassed
                for holder, state in sorted(facts.at[dependent].items()):
                    if (
                        state is InstanceState.RUNNING
                        and (dependent, holder) not in leaving
                        and facts.relies(holder, dep.location, name, node, going)
                    ):
                        leaving[(dependent, holder)] = f"{name}, which it depends on, halts"
                        changed = True
    return leaving


def _ready_halts(facts: Facts, step: _Step) -> None:
    """The leaving instances that may halt now: no member holds a package that relies on
    them. The others wait for their dependents (reason: which one). A failover package
    reported on two nodes does not wait for an unclean dependent, which cannot halt
    until an operator cleans it up: one copy matters more than the dependency order."""
    for (name, node), reason in step.leaving.items():
        going = {n for p, n in step.leaving if p == name}
        twice = facts.spec(name).is_failover and len(facts.at[name]) > 1
        blocking = [
            f"{dependent} on {holder}"
            for dependent, dep in facts.dependents[name]
            if not facts.state(dependent).maintenance
            for holder, state in sorted(facts.at[dependent].items())
            if facts.relies(holder, dep.location, name, node, going)
            and not (twice and state is InstanceState.UNCLEAN)
        ]
        if blocking:
            step.held_back[(name, node)] = f"it halts on {node} after {', '.join(blocking)}"
        else:
            step.halts[(name, node)] = reason


def _starts(facts: Facts, target: Placement, step: _Step) -> None:
    """Starts that may happen now, in placement order; targets that must wait, and the
    package each waits for."""
    for name in facts.order:
        spec = facts.spec(name)
        nodes = target.nodes[name]
        if spec.is_failover:
            if not nodes or facts.present(name) or facts.blocker(name):
                continue
            todo = sorted(nodes)
            reason = target.why[name]
        else:
            todo = [n for n in spec.nodes if n in nodes and n not in facts.at[name]]
            todo += sorted(nodes - set(spec.nodes) - set(facts.at[name]))
            reason = ""
        for node in todo:
            if node not in facts.up:
                continue  # never: the placement only targets usable members
            problem, other = _start_problem(facts, target, step.leaving, name, node)
            if problem:
                step.waiting[(name, node)] = problem
                step.waited_on[(name, node)] = other
            else:
                step.starts[(name, node)] = reason or _multi_reason(facts, name, node)


def _multi_reason(facts: Facts, name: str, node: str) -> str:
    if facts.state(name).auto_run:
        return f"a multi_node package runs on every usable node, and {node} is one"
    return f"the operator runs it on {node} (cmrunpkg)"


def _start_problem(
    facts: Facts, target: Placement, leaving: Instances, name: str, node: str
) -> tuple[str, str]:
    """What a start on `node` waits for, and on which package (("", "") if nothing): UP
    dependencies running where they stay, DOWN dependencies gone. In maintenance mode,
    UP dependencies are bypassed, and none counts between two packages in it."""
    maintenance = bool(facts.state(name).maintenance)
    for dep in facts.spec(name).dependencies:
        other = dep.package
        if maintenance and (dep.condition is Condition.UP or facts.state(other).maintenance):
            continue
        stable = {
            n for n in target.nodes[other] if facts.running(other, n) and (other, n) not in leaving
        }
        if dep.condition is Condition.UP:
            if dep.location is Location.SAME_NODE and node not in stable:
                return f"{other} is not up on {node} yet", other
            if dep.location is Location.DIFFERENT_NODE and not stable - {node}:
                return f"{other} is not up on another node yet", other
            if dep.location is Location.ANY_NODE and not stable:
                return f"{other} is not up yet", other
        else:
            there = facts.present(other) | target.nodes[other]
            if dep.location is Location.SAME_NODE and node in there:
                return f"{other} is still on {node}", other
            if dep.location is not Location.SAME_NODE and (there or facts.blocker(other)):
                return f"{other} is still up", other
    return "", ""


def _answers(facts: Facts, checked: Checked, step: _Step) -> tuple[Answer, ...]:
    answers: list[Answer] = []
    for i, request in enumerate(facts.snap.requests):
        if i in checked.refused:
            answers.append(Answer(request, Outcome.REFUSED, checked.refused[i]))
            continue
        if i in checked.partial:
            order = checked.partial[i]
            what = ", ".join(order.modules) if order.modules else "what is missing"
            verb = "starts" if order.kind is ActionKind.START else "halts"
            answers.append(
                Answer(request, Outcome.ACCEPTED, f"{order.package} {verb} {what} on {order.node}")
            )
            continue
        if isinstance(request, HaltRequest):
            name, nodes = checked.halts[i]
            if all((name, n) in step.halts for n in nodes):
                where = ", ".join(sorted(nodes))
                answers.append(Answer(request, Outcome.ACCEPTED, f"{name} halts on {where}"))
            else:
                answers.append(
                    Answer(request, Outcome.WAITING, f"{name} halts after its dependents")
                )
            continue
        name, nodes = checked.runs[i]
        started = sorted(n for n in nodes if (name, n) in step.starts)
        blocked = {n: step.waiting[(name, n)] for n in sorted(nodes) if (name, n) in step.waiting}
        if started and not blocked:
            where = ", ".join(started)
            answers.append(Answer(request, Outcome.ACCEPTED, f"{name} starts on {where}"))
        elif blocked and all(_under_way(facts, checked, step.waited_on[name, n]) for n in blocked):
            answers.append(Answer(request, Outcome.WAITING, next(iter(blocked.values()))))
        else:
            reason = next(iter(blocked.values()), f"{name} cannot start now")
            answers.append(Answer(request, Outcome.REFUSED, reason))
    return tuple(answers)


def _under_way(facts: Facts, checked: Checked, name: str) -> bool:
    """Whether the package a start waits for is being started or asked to start."""
    states = facts.at[name].values()
    return name in checked.run_pins or InstanceState.STARTING in states


def _waits(facts: Facts, target: Placement, step: _Step) -> tuple[Wait, ...]:
    """Packages not where they should be after this decision, one reason each."""
    waits: dict[str, str] = {}
    for (name, node), problem in step.waiting.items():
        waits.setdefault(name, f"it waits to start on {node}: {problem}")
    for (name, _node), problem in step.held_back.items():
        waits.setdefault(name, problem)
    for name in facts.order:
        if name in waits or not facts.spec(name).is_failover:
            continue
        stuck = facts.stuck(name)
        if stuck:
            waits[name] = stuck
        elif (
            not target.nodes[name]
            and not facts.at[name]
            and facts.state(name).auto_run
            and not any(p == name for p, _ in step.starts)
        ):
            waits[name] = target.why[name]
    return tuple(Wait(name, waits[name]) for name in facts.order if name in waits)


def _summary(
    facts: Facts,
    actions: list[Action],
    answers: tuple[Answer, ...],
    waits: tuple[Wait, ...],
) -> str:
    """The decision in one sentence."""
    parts = [", ".join(a.describe() for a in actions)] if actions else []
    parts += [f"{a.request.describe()} {a.outcome}" for a in answers]
    parts += [f"{w.package} waits ({w.reason})" for w in waits[:3]]
    if len(waits) > 3:
        parts.append(f"{len(waits) - 3} more packages wait")
    if not parts:
        up = sum(1 for name in facts.order if any(facts.running(name, n) for n in facts.at[name]))
        parts.append(f"nothing to do, {up} of {len(facts.order)} packages up")
    return f"epoch {facts.snap.epoch}: {'; '.join(parts)}."
