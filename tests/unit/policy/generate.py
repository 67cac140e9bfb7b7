"""Random clusters for the property tests: every field of a snapshot varied, with
dependencies acyclic (as the configuration guarantees)."""

from hypothesis import strategies as st

from cluster.core.policy_model import (
    Condition,
    Dependency,
    FailbackPolicy,
    FailoverPolicy,
    InstanceState,
    Location,
    PackageSpec,
    PackageType,
)
from cluster.packages.modules import NAMES
from tests.unit.policy.world import World

NODES = "abcde"


def subset(draw: st.DrawFn, items: list[str] | tuple[str, ...] | str) -> set[str]:
    return set(draw(st.lists(st.sampled_from(list(items)), unique=True))) if items else set()


@st.composite
def worlds(draw: st.DrawFn, simple: bool = False) -> World:
    """A cluster in any state. `simple`: independent failover packages placed by
    configured_node, no priorities, no requests, each running at most once."""
    nodes = NODES[: draw(st.integers(2, len(NODES)))]
    world = World(nodes=tuple(nodes))
    world.set_members(draw(st.lists(st.sampled_from(nodes), unique=True, min_size=1)))
    world.released = subset(draw, [n for n in nodes if n not in world.members])
    world.halting = subset(draw, world.members)
    priorities = draw(st.permutations(range(1, 9)))
    types: list[PackageType] = []
    for i in range(draw(st.integers(1, 6))):
        multi = not simple and draw(st.integers(0, 4)) == 0
        types.append(PackageType.MULTI_NODE if multi else PackageType.FAILOVER)
        order = draw(st.permutations(nodes))
        spec = PackageSpec(
            name=f"p{i}",
            nodes=tuple(order[: draw(st.integers(1, len(nodes)))]),
            type=types[-1],
            failover_policy=(
                FailoverPolicy.CONFIGURED_NODE if simple else draw(st.sampled_from(FailoverPolicy))
            ),
            failback_policy=draw(st.sampled_from(FailbackPolicy)),
            priority=None if simple or draw(st.booleans()) else priorities[i],
            dependencies=() if simple else tuple(_dependencies(draw, i, types)),
        )
        world.add(spec, auto_run=draw(st.booleans()))
        most = 1 if simple else (len(nodes) if multi else 2)
        for node in draw(st.lists(st.sampled_from(nodes), unique=True, max_size=most)):
            state = InstanceState.RUNNING
            if not simple and draw(st.integers(0, 3)) == 0:
                state = draw(st.sampled_from(InstanceState))
            world.instances[spec.name][node] = state
        world.disabled[spec.name] = subset(draw, nodes) if draw(st.booleans()) else set()
        world.failed[spec.name] = subset(draw, nodes) if draw(st.booleans()) else set()
        if not simple and not multi and draw(st.integers(0, 3)) == 0:
            # Maintenance mode, usually as the session allows it (switching off, where it
            # runs); sometimes not (a node since gone), which the engine must bear too.
            held = sorted(world.instances[spec.name])
            world.auto_run[spec.name] = draw(st.integers(0, 5)) == 0
            world.maintenance[spec.name] = draw(st.sampled_from(held or list(spec.nodes)))
    if not simple:
        names = list(world.specs)
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["run", "halt"]))
            target = draw(st.none() | st.sampled_from(nodes))
            modules: tuple[str, ...] = ()
            if draw(st.integers(0, 2)) == 0:
                modules = tuple(draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1)))
            world.request(kind, draw(st.sampled_from(names)), target, modules)
    return world


def _dependencies(draw: st.DrawFn, i: int, types: list[PackageType]) -> list[Dependency]:
    deps: list[Dependency] = []
    for j in range(i):
        if draw(st.integers(0, 2)) != 0:
            continue
        if types[i] is PackageType.MULTI_NODE and types[j] is PackageType.FAILOVER:
            continue  # the configuration refuses it
        condition = draw(st.sampled_from([Condition.UP, Condition.UP, Condition.DOWN]))
        deps.append(Dependency(f"p{j}", condition, draw(st.sampled_from(Location))))
    return deps
