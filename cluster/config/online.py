"""Which configuration changes cmapplyconf may make while the cluster runs.

Rules, after Serviceguard's tables "Types of Changes to the Cluster Configuration" and
"Types of Changes to Packages", made stricter where cmcluster cannot yet change a
running thing in place:

- A halted cluster accepts any valid change.
- Packages that are not running may be added, removed and changed freely.
- A running package keeps what its node holds for it: its type, floating IPs and
  subnets, volume groups, file systems, services and OCF resources (the declarations
  with `online=False`). Policies may change: AUTO_RUN, failover and failback policy,
  PRIORITY, NODE_NAME (as long as the node it runs on stays listed), timeouts,
  SERVICE_RESTART, scripts, MONITORED_SUBNET and dependencies (as long as a new
  dependency holds now: a running package must not start depending on a halted one).
  Removing a running package is refused: halt it first (cmhaltpkg).
- Nodes not running may be added or removed; a running node may be removed only after
  cmhaltnode. A running node's interfaces may change if one of its HEARTBEAT_IPs stays.
  (It keeps an address on every subnet its running packages use: the package must
  keep the node in its NODE_NAME list, and validation wants its subnets on every
  listed node.)
- MEMBER_TIMEOUT, the quorum server (QS_HOST, QS_ADDR), WATCHDOG_DEVICE and
  CLUSTER_NAME need the cluster halted. Serviceguard A.11.19 allows the first two
  online; here leases and Paxos votes in flight were granted under the old values, and
  a node switching to a longer MEMBER_TIMEOUT before the others could still hold its
  lease after they took its packages over. Older Serviceguard required the same.

The function is pure: the lead's cmapplyconf passes what runs (from cmviewcl's state).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from cluster.config.model import Cluster, Config, Package, address_of
from cluster.config.params_cluster import CLUSTER_PARAMS
from cluster.config.params_package import PACKAGE_PARAMS
from cluster.config.problems import Problem
from cluster.config.schema import Param
from cluster.config.tree import Entry


@dataclass(frozen=True)
class Running:
    """What runs now: the cluster's member nodes and the nodes each package runs on."""

    nodes: frozenset[str] = frozenset()
    packages: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def where(self, package: str) -> frozenset[str]:
        return self.packages.get(package, frozenset())


@dataclass(frozen=True)
class _Change:
    keyword: str
    text: str  # "change MEMBER_TIMEOUT from 14000000 to 5000000"
    note: str  # the declaration's reason


def online_refusals(old: Config, new: Config, running: Running) -> list[Problem]:
    """The changes from `old` to `new` that cannot be applied while `running` runs."""
    if not running.nodes:
        return []
    refusals: list[Problem] = []
    _cluster(old.cluster, new.cluster, refusals)
    _nodes(old, new, running, refusals)
    for package in old.packages:
        nodes = running.where(package.name)
        if not nodes:
            continue
        replacement = new.package(package.name)
        if replacement is None:
            refusals.append(
                Problem(
                    package.origin.path,
                    0,
                    f"package {package.name} runs on {_list(nodes)}: halt it (cmhaltpkg) "
                    "before removing it",
                )
            )
            continue
        _package(package, replacement, nodes, new, running=running, refusals=refusals)
    return refusals


def _cluster(old: Cluster, new: Cluster, refusals: list[Problem]) -> None:
    for change in changes(old.document.entries, new.document.entries, CLUSTER_PARAMS):
        path, line = new.origin.where(change.keyword)
        refusals.append(
            Problem(path, line, f"cannot {change.text} while the cluster runs: {change.note}")
        )


def _nodes(old: Config, new: Config, running: Running, refusals: list[Problem]) -> None:
    for node in old.cluster.nodes:
        if node.name not in running.nodes:
            continue
        replacement = new.cluster.node(node.name)
        if replacement is None:
            refusals.append(
                Problem(
                    new.cluster.origin.path,
                    0,
                    f"node {node.name} is running: halt it (cmhaltnode {node.name}) before "
                    "removing it from the cluster",
                )
            )
            continue
        path, line = replacement.origin.where()
        before = {str(address_of(ip)) for ip in node.heartbeat_ips}
        after = {str(address_of(ip)) for ip in replacement.heartbeat_ips}
        if before and not before & after:
            refusals.append(
                Problem(
                    path,
                    line,
                    f"cannot change every HEARTBEAT_IP of running node {node.name} at once "
                    f"({_list(before)} -> {_list(after)}): keep one in this change",
                )
            )


def _package(
    old: Package,
    new: Package,
    nodes: frozenset[str],
    config: Config,
    *,
    running: Running,
    refusals: list[Problem],
) -> None:
    where = f"package {old.name} runs on {_list(nodes)}"
    for change in changes(old.document.entries, new.document.entries, PACKAGE_PARAMS):
        path, line = new.origin.where(change.keyword)
        refusals.append(Problem(path, line, f"{where}: cannot {change.text}; {change.note}"))
    left_out = nodes - set(new.eligible_nodes(config.cluster))
    if left_out:
        refusals.append(
            Problem(
                *new.origin.where("NODE_NAME"),
                f"{where}: its new NODE_NAME list leaves out {_list(left_out)}; move or halt "
                "the package first",
            )
        )
    before = {(d.package, d.condition, d.location) for d in old.dependencies}
    for dep in new.dependencies:
        if (dep.package, dep.condition, dep.location) in before:
            continue
        target = running.where(dep.package)
        problem = _unmet(dep.condition, dep.location, nodes, target)
        if problem:
            refusals.append(
                Problem(
                    *dep.origin.where("DEPENDENCY_CONDITION"),
                    f"{where}: the new dependency {dep.package} = {dep.condition} "
                    f"({dep.location}) does not hold now: {dep.package} {problem}",
                )
            )


def _unmet(condition: str, location: str, mine: frozenset[str], theirs: frozenset[str]) -> str:
    if condition == "DOWN":
        if location == "any_node" and theirs:
            return f"runs on {_list(theirs)}"
        if location == "same_node" and mine & theirs:
            return f"runs on {_list(mine & theirs)} too"
        return ""
    if not theirs:
        return "is halted; start it first"
    if location == "same_node" and not mine <= theirs:
        return f"runs on {_list(theirs)} only"
    if location == "different_node" and mine & theirs:
        return f"runs on {_list(mine & theirs)} too"
    return ""


def changes(
    old: tuple[Entry, ...], new: tuple[Entry, ...], params: tuple[Param, ...]
) -> list[_Change]:
    """What changed among the parameters declared `online=False`, in words."""
    found: list[_Change] = []
    for param in params:
        if param.online or param.unsupported or param.ignored:
            continue
        before = [e for e in old if e.keyword == param.keyword]
        after = [e for e in new if e.keyword == param.keyword]
        note = param.online_note or "halt it to change it"
        if not param.is_block:
            if [e.value for e in before] != [e.value for e in after]:
                was, now = _values(param, before), _values(param, after)
                found.append(
                    _Change(param.keyword, f"change {param.keyword} from {was} to {now}", note)
                )
            continue
        old_blocks = {e.value: e for e in before}
        new_blocks = {e.value: e for e in after}
        for value in sorted(new_blocks.keys() - old_blocks.keys(), key=str):
            found.append(
                _Change(param.keyword, f"add {param.keyword} {_render(param, value)}", note)
            )
        for value in sorted(old_blocks.keys() - new_blocks.keys(), key=str):
            found.append(
                _Change(param.keyword, f"remove {param.keyword} {_render(param, value)}", note)
            )
        for value in sorted(old_blocks.keys() & new_blocks.keys(), key=str):
            label = f"{param.keyword} {_render(param, value)}"
            for inner in changes(
                old_blocks[value].children, new_blocks[value].children, param.children
            ):
                found.append(_Change(param.keyword, f"{inner.text} of {label}", inner.note))
    return found


def _values(param: Param, entries: list[Entry]) -> str:
    return ", ".join(_render(param, e.value) for e in entries) or "(none)"


def _render(param: Param, value: object) -> str:
    assert isinstance(value, str | int | bool)
    return param.type.render(value) or '""'


def _list(names: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(names))
