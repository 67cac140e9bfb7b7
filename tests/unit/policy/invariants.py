"""What every decision must respect, checked from the snapshot alone (written without
the engine's helpers, so a shared mistake cannot hide)."""

from collections import Counter

from cluster.core.policy_model import (
    ActionKind,
    Condition,
    Decision,
    HaltRequest,
    InstanceState,
    Location,
    Outcome,
    RunRequest,
    Snapshot,
)

RUNNING = InstanceState.RUNNING


def check(snap: Snapshot, decision: Decision) -> None:
    members = set(snap.members)
    reported = {i.node for s in snap.states for i in s.instances}
    unreleased = (set(snap.nodes) | reported) - members - snap.released
    held = {
        s.name: {i.node: i.state for i in s.instances if i.node in members} for s in snap.states
    }
    lost = {s.name: {i.node for i in s.instances if i.node in unreleased} for s in snap.states}
    maintenance = {s.name: s.maintenance for s in snap.states if s.maintenance}
    # Partial orders (maintenance mode): some modules, or what is missing, of a package
    # that stays where it runs. Checked apart; they never change where a package runs.
    partial = [
        a
        for a in decision.actions
        if a.package in maintenance
        and (
            (a.kind is ActionKind.HALT and a.modules)
            or (a.kind is ActionKind.START and a.node in held[a.package])
        )
    ]
    whole = [a for a in decision.actions if a not in partial]
    starts = [a for a in whole if a.kind is ActionKind.START]
    halts = {(a.package, a.node) for a in whole if a.kind is ActionKind.HALT}
    started = {(a.package, a.node) for a in starts}
    run_accepted = {
        a.request.package
        for a in decision.answers
        if isinstance(a.request, RunRequest) and a.outcome is Outcome.ACCEPTED
    }
    halt_asked = {
        a.request.package
        for a in decision.answers
        if isinstance(a.request, HaltRequest) and a.outcome is not Outcome.REFUSED
    }

    assert decision.epoch == snap.epoch
    assert all(a.epoch == snap.epoch for a in decision.actions), "an action of another epoch"
    keys = [(a.kind, a.package, a.node) for a in decision.actions]
    assert len(keys) == len(set(keys)), f"an action twice: {keys}"
    assert all(a.reason and decision.summary for a in decision.actions)
    assert [a.request for a in decision.answers] == list(snap.requests)
    failover = {p.name for p in snap.packages if p.is_failover}
    assert not {p for p, _ in started} & {p for p, _ in halts} & failover, "start and halt"
    assert not started & halts, "start and halt of one package on one node"
    failover_starts = Counter(a.package for a in starts if snap.spec(a.package).is_failover)
    assert all(n == 1 for n in failover_starts.values()), f"two starts: {failover_starts}"
    asked_partly = {
        (a.request.package, type(a.request))
        for a in decision.answers
        if a.request.modules or a.request.package in maintenance
    }

    assert not [a for a in decision.actions if a.modules and a.package not in maintenance], (
        "a partial order for a package not in maintenance mode"
    )
    for a in partial:
        where = f"partial {a.kind} of {a.package} on {a.node}"
        assert a.node == maintenance[a.package], f"{where}: not its maintenance node"
        assert held[a.package].get(a.node) is RUNNING, f"{where}: it does not run there"
        assert set(held[a.package]) == {a.node}, f"{where}: it is held elsewhere too"
        kind = RunRequest if a.kind is ActionKind.START else HaltRequest
        assert (a.package, kind) in asked_partly, f"{where}: not asked by the operator"
    for a in whole:
        if a.package not in maintenance:
            continue
        where = f"{a.kind} {a.package} on {a.node} in maintenance mode"
        if a.kind is ActionKind.START:
            assert a.node == maintenance[a.package], f"{where}: not its maintenance node"
            assert a.package in run_accepted, f"{where}: not asked by the operator"
        else:
            twice = len(held[a.package]) > 1  # one copy matters more than maintenance
            assert a.package in halt_asked or a.node in snap.halting or twice, f"{where}: not asked"

    for a in starts:
        spec, state = snap.spec(a.package), snap.state(a.package)
        where = f"start {a.package} on {a.node}"
        assert a.node in members and a.node not in snap.halting, f"{where}: not a usable member"
        assert a.node in spec.nodes, f"{where}: not eligible"
        assert a.node not in held[a.package], f"{where}: it is already there"
        assert a.node not in state.failed_nodes, f"{where}: it failed there"
        assert a.node not in state.disabled_nodes, f"{where}: node switching disabled"
        assert state.auto_run or a.package in run_accepted, f"{where}: AUTO_RUN off, not asked"
        assert a.package not in halt_asked, f"{where}: the operator halts it"
        if spec.is_failover:
            assert not held[a.package] and not lost[a.package], f"{where}: it is elsewhere"
            assert not set(spec.nodes) & unreleased, f"{where}: takeover not allowed yet"
        for dep in spec.dependencies:
            other = dep.package
            if a.package in maintenance and (dep.condition is Condition.UP or other in maintenance):
                continue  # bypassed in maintenance mode
            up = {n for n, s in held[other].items() if s is RUNNING and (other, n) not in halts}
            there = set(held[other]) | lost[other] | {n for p, n in started if p == other}
            if dep.condition is Condition.UP:
                if dep.location is Location.SAME_NODE:
                    assert a.node in up, f"{where}: {other} not up there"
                elif dep.location is Location.DIFFERENT_NODE:
                    assert up - {a.node}, f"{where}: {other} not up elsewhere"
                else:
                    assert up, f"{where}: {other} not up"
            elif dep.location is Location.SAME_NODE:
                assert a.node not in there, f"{where}: excluded {other} is there"
            else:
                assert not there, f"{where}: excluded {other} is up"

    for package, node in halts:
        holds = held[package].get(node)
        asked = package in halt_asked
        assert holds is RUNNING or (holds is InstanceState.UNCLEAN and asked), (
            f"halt {package} on {node}: it is {holds}"
        )
        for dependent in snap.packages:
            if dependent.name in maintenance:
                continue  # its UP dependencies are bypassed in maintenance mode
            for dep in dependent.dependencies:
                if dep.package != package or dep.condition is not Condition.UP:
                    continue
                for holder, holding in held[dependent.name].items():
                    if (
                        holding is InstanceState.UNCLEAN
                        and len(held[package]) > 1
                        and package in failover
                    ):
                        continue  # a duplicate failover package does not wait for it
                    others = {
                        n
                        for n, s in held[package].items()
                        if s is RUNNING and n != node and (package, n) not in halts
                    }
                    if dep.location is Location.SAME_NODE:
                        relies = holder == node
                    elif dep.location is Location.DIFFERENT_NODE:
                        relies = holder != node and not others - {holder}
                    else:
                        relies = not others
                    assert not relies, (
                        f"halt {package} on {node} while {dependent.name} on {holder} needs it"
                    )
