"""The predictor (cluster/core/predict.py): carrying out the engine's decisions on paper
gives what carrying them out for real gives (the World of these tests), the same
snapshot gives the same prediction, and a node failure predicted is the failover the
engine then performs."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.policy_model import ActionKind, InstanceState, PackageSpec, RunRequest
from cluster.core.predict import fail_nodes, predict, with_requests
from tests.unit.policy.generate import worlds
from tests.unit.policy.world import World


def carried_out(world: World, rounds: int = 64) -> dict[str, tuple[str, ...]]:
    """Decide and complete everything, round after round, as the coordinator would."""
    for _ in range(rounds):
        world.done()  # what was under way completes first, as the predictor assumes
        decision = world.decide()
        if not decision.actions:
            break
        world.send()
        world.done()
    return {
        name: tuple(
            sorted(n for n, s in held.items() if s is InstanceState.RUNNING and n in world.members)
        )
        for name, held in world.instances.items()
    }


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_the_prediction_is_what_carrying_out_the_decisions_gives(world: World) -> None:
    snap = world.snapshot()
    prediction = predict(snap)
    assert prediction.settled
    assert predict(snap) == prediction  # deterministic
    if not world.requests:  # (requests answered on paper are dropped by the World too)
        assert prediction.placement == carried_out(world)


def test_a_predicted_node_failure_is_the_failover_that_follows() -> None:
    world = World(nodes=("a", "b", "c"))
    world.set_members(["a", "b", "c"])
    world.add(PackageSpec("web", ("a", "b", "c")))
    world.add(PackageSpec("db", ("b", "a")))
    world.instances["web"]["a"] = InstanceState.RUNNING
    world.instances["db"]["a"] = InstanceState.RUNNING
    prediction = predict(fail_nodes(world.snapshot(), frozenset({"a"})))
    assert prediction.placement == {"web": ("b",), "db": ("b",)}
    assert [(s.kind, s.package, s.node) for s in prediction.steps] == [
        (ActionKind.START, "db", "b"),
        (ActionKind.START, "web", "b"),
    ]
    # The real thing: a leaves, its takeover is allowed, the engine places.
    world.set_members(["b", "c"])
    world.release({"a"})
    assert carried_out(world) == prediction.placement


def test_a_previewed_request_changes_nothing_and_answers_as_it_would() -> None:
    world = World(nodes=("a", "b"))
    world.set_members(["a", "b"])
    world.add(PackageSpec("web", ("a", "b")), auto_run=False)
    snap = world.snapshot()
    prediction = predict(with_requests(snap, (RunRequest("web", "b"),)))
    (answer,) = prediction.answers
    assert answer.outcome == "accepted" and prediction.placement == {"web": ("b",)}
    assert world.snapshot() == snap and replace(snap) == snap
    refused = predict(with_requests(snap, (RunRequest("web", "z"),)))
    assert refused.answers[0].outcome == "refused" and refused.placement == {"web": ()}


@settings(max_examples=100, deadline=None)
@given(worlds(), st.data())
def test_any_node_failure_predicted_matches_the_engine(world: World, data: st.DataObject) -> None:
    if len(world.members) < 2 or world.requests:
        return
    gone = frozenset({data.draw(st.sampled_from(sorted(world.members)))})
    for held in world.instances.values():  # settle first: a stable cluster, then a failure
        for node, state in list(held.items()):
            if state is InstanceState.UNCLEAN:
                del held[node]
    carried_out(world)
    prediction = predict(fail_nodes(world.snapshot(), gone))
    world.set_members(sorted(set(world.members) - gone))
    world.release(set(world.released) | set(gone))
    assert carried_out(world) == prediction.placement
