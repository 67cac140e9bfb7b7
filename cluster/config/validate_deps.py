"""Package dependencies: targets exist, can be met, and form no cycle.

Serviceguard's rules: a package cannot depend on itself or on a package that does not
exist, and a multi_node package may depend only on multi_node packages. A cycle of UP
dependencies is refused because none of its packages could ever start first.
"""

from cluster.config.model import Config, Package
from cluster.config.problems import Problems


def validate_dependencies(config: Config, problems: Problems) -> None:
    packages = {p.name: p for p in config.packages}
    for package in config.packages:
        _targets(package, packages, config, problems)
    _cycles(config, problems)


def _targets(
    package: Package, packages: dict[str, Package], config: Config, problems: Problems
) -> None:
    seen: dict[str, int] = {}
    for dep in package.dependencies:
        path, line = dep.origin.where("DEPENDENCY_CONDITION")
        condition = f"DEPENDENCY_CONDITION {dep.package} = {dep.condition}"
        target = packages.get(dep.package)
        if dep.package in seen:
            problems.error(
                path,
                line,
                f"{condition}: package {package.name} already depends on "
                f"{dep.package} (line {seen[dep.package]})",
            )
        seen.setdefault(dep.package, line)
        if dep.package == package.name:
            problems.error(path, line, f"{condition}: a package cannot depend on itself")
        elif target is None:
            problems.error(path, line, f"{condition}: there is no package {dep.package}")
        elif not package.is_failover and target.is_failover:
            problems.error(
                path,
                line,
                f"{condition}: multi_node package {package.name} can depend only on "
                f"multi_node packages, and {dep.package} is a failover package",
            )
        elif dep.condition == "UP" and dep.location == "same_node":
            mine = set(package.eligible_nodes(config.cluster))
            theirs = set(target.eligible_nodes(config.cluster))
            if not mine & theirs:
                problems.error(
                    path,
                    line,
                    f"{condition} on the same node can never hold: {package.name} and "
                    f"{dep.package} share no NODE_NAME",
                )


def _cycles(config: Config, problems: Problems) -> None:
    graph = {
        p.name: sorted({d.package for d in p.dependencies if d.condition == "UP"})
        for p in config.packages
    }
    graph = {
        name: [t for t in targets if t in graph and t != name] for name, targets in graph.items()
    }
    packages = {p.name: p for p in config.packages}
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = _shortest_cycle(min(component), graph, component)
        first = packages[cycle[0]]
        dep = next(d for d in first.dependencies if d.package == cycle[1])
        problems.error(
            *dep.origin.where("DEPENDENCY_CONDITION"),
            "dependency cycle " + " -> ".join([*cycle, cycle[0]]) + ": none of them could start",
        )


def strongly_connected(graph: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = graph[node]
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _shortest_cycle(start: str, graph: dict[str, list[str]], within: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one component, by breadth first."""
    previous: dict[str, str] = {}
    queue = [start]
    for name in queue:
        for target in graph[name]:
            if target == start:
                path = [name]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return path[::-1]
            if target in within and target not in previous:
                previous[target] = name
                queue.append(target)
    raise ValueError(f"no cycle through {start}")  # a component of 2+ always has one
