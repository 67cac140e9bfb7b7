"""A deliberately naive placement for the simple case (independent failover packages,
configured_node, no priorities, no requests), written from the rules' text alone."""

from cluster.core.policy_model import FailbackPolicy, PackageState, Snapshot


def naive(snap: Snapshot) -> set[tuple[str, str, str]]:
    members = set(snap.members)
    usable = members - snap.halting
    unreleased = set(snap.nodes) - members - snap.released

    def may_start(state: PackageState, node: str) -> bool:
        return node in usable and node not in state.disabled_nodes | state.failed_nodes

    actions: set[tuple[str, str, str]] = set()
    for spec in snap.packages:
        state = snap.state(spec.name)
        here = [i.node for i in state.instances if i.node in members]
        away = [i.node for i in state.instances if i.node in unreleased]
        if here:
            node = here[0]
            fails_back = (
                spec.failback_policy is FailbackPolicy.AUTOMATIC
                and state.auto_run
                and node != spec.nodes[0]
                and may_start(state, spec.nodes[0])
            )
            if node in snap.halting or fails_back:
                actions.add(("halt", spec.name, node))
            continue
        if away or any(n in unreleased for n in spec.nodes) or not state.auto_run:
            continue
        for node in spec.nodes:
            if may_start(state, node):
                actions.add(("start", spec.name, node))
                break
    return actions
