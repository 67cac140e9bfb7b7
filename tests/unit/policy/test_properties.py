"""The engine over random snapshots: its invariants, determinism, agreement with a naive
reference on the simple cases, and convergence when its decisions are carried out.
Hypothesis prints the failing example and its seed (reproduce with --hypothesis-seed);
POLICY_SCALE=10 runs ten times as many examples."""

import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.policy import decide
from cluster.core.policy_model import InstanceState, Snapshot
from tests.unit.policy.generate import worlds
from tests.unit.policy.invariants import check
from tests.unit.policy.naive import naive
from tests.unit.policy.world import World

SCALE = int(os.environ.get("POLICY_SCALE", "1"))


@settings(max_examples=600 * SCALE, deadline=None)
@given(worlds())
def test_every_decision_respects_the_invariants(world: World) -> None:
    snap = world.snapshot()
    check(snap, decide(snap))


@settings(max_examples=300 * SCALE, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_same_snapshot_same_decision_whatever_the_input_order(
    world: World, rng: random.Random
) -> None:
    snap = world.snapshot()
    packages, states, nodes = list(snap.packages), list(snap.states), list(snap.nodes)
    rng.shuffle(packages)
    rng.shuffle(states)
    rng.shuffle(nodes)
    shuffled = Snapshot(
        epoch=snap.epoch,
        members=snap.members,
        coordinator=snap.coordinator,
        nodes=tuple(nodes),
        packages=tuple(packages),
        states=tuple(states),
        released=snap.released,
        halting=snap.halting,
        requests=snap.requests,
    )
    assert decide(shuffled) == decide(snap)


@settings(max_examples=600 * SCALE, deadline=None)
@given(worlds(simple=True))
def test_simple_cases_match_the_naive_reference(world: World) -> None:
    snap = world.snapshot()
    decision = decide(snap)
    got = {(str(a.kind), a.package, a.node) for a in decision.actions}
    assert got == naive(snap), decision.summary


def _settle(world: World, data: st.DataObject, rounds: int = 40) -> None:
    """Carry decisions out (some in-flight actions completing each round) until the
    engine has nothing left to do; fail if it never settles."""
    for _ in range(rounds):
        snap = world.snapshot()
        decision = world.decide()
        check(snap, decision)
        in_flight = any(
            s in (InstanceState.STARTING, InstanceState.HALTING)
            for held in world.instances.values()
            for s in held.values()
        )
        if not decision.actions and not in_flight and not world.requests:
            return
        world.send()
        for held in world.instances.values():
            for node, state in sorted(held.items()):
                if state in (InstanceState.STARTING, InstanceState.HALTING) and data.draw(
                    st.booleans(), label=f"complete {state}"
                ):
                    if state is InstanceState.STARTING:
                        held[node] = InstanceState.RUNNING
                    else:
                        world.finish_halt(held, node)
        if not data.draw(st.integers(0, 3)):
            world.done()
    raise AssertionError(f"no fixed point after {rounds} rounds: {world.last}")


@settings(max_examples=300 * SCALE, deadline=None)
@given(worlds(), st.data())
def test_carrying_decisions_out_settles(world: World, data: st.DataObject) -> None:
    _settle(world, data)
    for name, spec in world.specs.items():
        held = {n: s for n, s in world.instances[name].items() if n in world.members}
        active = [n for n, s in held.items() if s is not InstanceState.UNCLEAN]
        if spec.is_failover:  # two unclean copies at the start wait for an operator
            assert not active or len(held) == 1, f"{name} on {held}"


@settings(max_examples=300 * SCALE, deadline=None)
@given(worlds(simple=True), st.data())
def test_once_settled_every_package_that_can_run_runs(world: World, data: st.DataObject) -> None:
    _settle(world, data)
    snap = world.snapshot()
    unreleased = set(snap.nodes) - set(snap.members) - snap.released
    for spec in snap.packages:
        state = snap.state(spec.name)
        if not state.auto_run or set(spec.nodes) & unreleased:
            continue
        usable = [
            n
            for n in spec.nodes
            if n in snap.members
            and n not in snap.halting
            and n not in state.disabled_nodes
            and n not in state.failed_nodes
        ]
        running = [i.node for i in state.instances if i.state is InstanceState.RUNNING]
        assert running or not usable, f"{spec.name} could run on {usable}"
