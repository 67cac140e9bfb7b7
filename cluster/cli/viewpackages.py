"""cmviewcl's package sections, in Serviceguard's layout.

Table: the packages a node runs follow its node line; packages that run nowhere come
last under UNOWNED_PACKAGES. With -v each package adds its Policy_Parameters,
Script_Parameters (services and monitored subnets) and Node_Switching_Parameters.
Line: `package:NAME|key=value`, one per line, as Serviceguard's `-f line`.
"""

from collections.abc import Sequence

from cluster.core.model import ClusterView, PackageView

HEADER = ("PACKAGE", "STATUS", "STATE", "AUTO_RUN", "NODE")
UNOWNED = "unowned"


def owners(package: PackageView) -> tuple[str, ...]:
    """The nodes a package runs on: every instance of a multi_node package, else its
    one node (none when it is down)."""
    if package.running_on:
        return package.running_on
    return (package.node,) if package.node else ()


def enabled(flag: bool) -> str:
    return "enabled" if flag else "disabled"


def _width(packages: Sequence[PackageView]) -> int:
    return max([14, *(len(p.name) for p in packages)])


def _row(cells: Sequence[str], width: int, indent: str = "    ") -> str:
    name, status, state, auto_run, node = cells
    return f"{indent}{name:<{width}} {status:<12} {state:<12} {auto_run:<12} {node}".rstrip()


def package_rows(
    view: ClusterView, packages: Sequence[PackageView], node: str, verbose: bool
) -> list[str]:
    """One group of packages (those of `node`, or the unowned ones when `node` is
    UNOWNED), each with its details when verbose."""
    width = _width(view.packages)
    out: list[str] = []
    for index, package in enumerate(packages):
        if verbose or index == 0:
            out += ["", _row(HEADER, width)]
        where = node if node != UNOWNED else (", ".join(owners(package)) or UNOWNED)
        cells = (package.name, package.status, package.state, enabled(package.auto_run), where)
        out.append(_row(cells, width))
        if verbose:
            out += details(view, package)
    return out


def details(view: ClusterView, package: PackageView) -> list[str]:
    """cmviewcl -v under one package: reason, policies, services and subnets, nodes."""
    out: list[str] = []
    if package.maintenance:
        out += ["", f"      Maintenance: on, on {package.maintenance} (cmmodpkg -m off ends it)"]
        if package.ailing:
            out.append(f"      Not up or failing (not acted on): {package.ailing}")
    if package.reason:
        out += ["", f"      Reason: {package.reason}"]
    if package.failover_policy or package.failback_policy:
        out += [
            "",
            "      Policy_Parameters:",
            "      POLICY_NAME     CONFIGURED_VALUE",
            f"      {'Failover':<15} {package.failover_policy}",
            f"      {'Failback':<15} {package.failback_policy}",
        ]
    if package.services or package.monitored_subnets:
        out += [
            "",
            "      Script_Parameters:",
            "      ITEM       STATUS       MAX_RESTARTS  RESTARTS     NAME",
        ]
        for s in package.services:
            status = "up" if s.running else "down"
            limit = "0" if s.max_restarts in ("", "none") else s.max_restarts
            out.append(f"      {'Service':<10} {status:<12} {limit:<13} {s.restarts:<12} {s.name}")
        for subnet in package.monitored_subnets:
            status = package.subnet_status(subnet)
            out.append(f"      {'Subnet':<10} {status:<12} {'':<13} {'':<12} {subnet}")
    if package.nodes:
        status_of = {n.name: n.status for n in view.nodes}
        current = set(owners(package))
        out += [
            "",
            "      Node_Switching_Parameters:",
            "      NODE_TYPE    STATUS       SWITCHING    NAME",
        ]
        for n in package.nodes:
            kind = "Primary" if n.primary else "Alternate"
            status = status_of.get(n.name, "unknown")
            notes = ["(current)"] if n.name in current else []
            notes += ["(failed here: cmmodpkg -e clears it)"] if n.failed_here else []
            name = f"{n.name:<14} {' '.join(notes)}" if notes else n.name
            out.append(
                f"      {kind:<12} {status:<12} {enabled(n.switching_enabled):<12} {name}".rstrip()
            )
    return out


def flat_rows(view: ClusterView, verbose: bool, whole: ClusterView | None = None) -> list[str]:
    """Every package of the view as one list (cmviewcl -l package, -p PKG); `whole`
    (the view before -n filtered it) gives the status of every node."""
    return package_rows(whole or view, view.packages, UNOWNED, verbose)


def unowned(view: ClusterView) -> list[PackageView]:
    """Packages running on none of the view's nodes."""
    shown = {n.name for n in view.nodes}
    return [p for p in view.packages if not shown.intersection(owners(p))]


def on_node(view: ClusterView, node: str) -> list[PackageView]:
    return [p for p in view.packages if node in owners(p)]


def package_lines(view: ClusterView) -> list[str]:
    """Serviceguard's -f line for packages: `package:NAME|key=value`."""
    out: list[str] = []
    for p in view.packages:
        key = f"package:{p.name}"
        out += [
            f"{key}|status={p.status}",
            f"{key}|state={p.state}",
            f"{key}|autorun={enabled(p.auto_run)}",
            f"{key}|type={p.type}",
            f"{key}|node={','.join(owners(p))}",
            f"{key}|policy:failover={p.failover_policy}",
            f"{key}|policy:failback={p.failback_policy}",
        ]
        if p.reason:
            out.append(f"{key}|reason={' '.join(p.reason.split())}")
        out.append(f"{key}|maintenance={p.maintenance or 'off'}")
        if p.ailing:
            out.append(f"{key}|ailing={' '.join(p.ailing.split())}")
        for s in p.services:
            service = f"{key}|service:{s.name}"
            out += [
                f"{service}|status={'up' if s.running else 'down'}",
                f"{service}|restarts={s.restarts}",
                f"{service}|max_restarts={s.max_restarts}",
                f"{service}|pid={s.pid}",
            ]
        for subnet in p.monitored_subnets:
            out.append(f"{key}|subnet:{subnet}|status={p.subnet_status(subnet)}")
        current = set(owners(p))
        for n in p.nodes:
            node = f"{key}|node:{n.name}"
            out += [
                f"{node}|type={'primary' if n.primary else 'alternate'}",
                f"{node}|switching={enabled(n.switching_enabled)}",
                f"{node}|failed={'yes' if n.failed_here else 'no'}",
                f"{node}|current={'yes' if n.name in current else 'no'}",
            ]
    return out
