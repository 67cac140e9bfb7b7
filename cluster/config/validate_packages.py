"""Semantic checks of packages, alone and against the cluster and each other.

A resource (floating IP, volume group, file system device, mount point) belongs to at
most one package, and a floating IP to no node; a package's subnets must exist on every
node that may run it, because that is where its addresses are added. Subnets may be
written without a prefix, as Serviceguard operators do (`ip_subnet 198.18.1.0`); the
prefix then comes from the nodes' addresses on that subnet, and when no node gives one
the subnet is refused: the prefix is needed to add the address.
"""

import ipaddress
import posixpath
from dataclasses import dataclass

from cluster.config.model import Cluster, Config, Filesystem, IPNetwork, Package, address_of
from cluster.config.params_package import PACKAGE_SCHEMA
from cluster.config.problems import Problems
from cluster.config.tree import walk
from cluster.config.units import human_duration
from cluster.config.validate_cluster import validate_policies
from cluster.config.validate_deps import validate_dependencies


@dataclass(frozen=True)
class _Owner:
    package: str  # "" for a node's own address
    label: str
    path: str
    line: int


class _Owners:
    """Who holds each exclusive resource, to refuse a second holder with both places."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.held: dict[tuple[str, str], _Owner] = {}

    def claim(self, kind: str, key: str, owner: _Owner) -> None:
        first = self.held.setdefault((kind, key), owner)
        if first is owner or not (first.package or owner.package):
            return  # two nodes sharing an address is the cluster check's to report
        if first.package == owner.package:
            where = (
                f"line {first.line}" if first.path == owner.path else f"{first.path}:{first.line}"
            )
            message = f"{owner.label} is given twice in package {owner.package} (first on {where})"
        elif not first.package:
            message = f"{owner.label} is {first.label}"
        else:
            message = (
                f"{owner.label} already belongs to package {first.package} "
                f"({first.path}:{first.line}); a resource belongs to one package only"
            )
        self.problems.error(owner.path, owner.line, message)


def validate_packages(config: Config, problems: Problems) -> None:
    cluster = config.cluster
    owners = _Owners(problems)
    for node in cluster.nodes:
        for interface in node.interfaces:
            for ip in interface.ips:
                label = f"an address of node {node.name} interface {interface.name}"
                owners.claim("ip", str(address_of(ip)), _Owner("", label, *node.origin.where()))
    _names(config, problems)
    _count(config, problems)
    services: dict[str, tuple[str, str, int]] = {}
    priorities: dict[int, tuple[str, str, int]] = {}
    for package in config.packages:
        _nodes(package, cluster, problems)
        _failover_only(package, problems)
        _services(package, services, problems)
        _priority(package, priorities, problems)
        _addresses(package, cluster, owners, problems)
        _monitored_subnets(package, cluster, problems)
        _storage(package, cluster, owners, problems)
        _ocf(package, problems)
        validate_policies(package.access_policies, cluster, problems)
    _nested_mounts(config, problems)
    validate_dependencies(config, problems)


def _names(config: Config, problems: Problems) -> None:
    seen: dict[str, Package] = {}
    for package in config.packages:
        first = seen.setdefault(package.name.lower(), package)
        if first is not package:
            same = (
                "is" if first.name == package.name else f"differs only in case from {first.name},"
            )
            problems.error(
                *package.origin.where("PACKAGE_NAME"),
                f"package {package.name} {same} already configured ({first.origin.path})",
            )


def _count(config: Config, problems: Problems) -> None:
    limit = config.cluster.max_configured_packages
    if len(config.packages) > limit:
        problems.error(
            *config.cluster.origin.where("MAX_CONFIGURED_PACKAGES"),
            f"{len(config.packages)} packages configured but MAX_CONFIGURED_PACKAGES is {limit}",
        )


def _nodes(package: Package, cluster: Cluster, problems: Problems) -> None:
    names = cluster.node_names
    for index, name in enumerate(package.node_names):
        path, line = package.origin.where("NODE_NAME", index)
        if name == "*":
            if len(package.node_names) > 1:
                problems.error(path, line, "NODE_NAME * (every node) must be the only NODE_NAME")
        elif name not in names:
            near = [n for n in names if n.lower() == name.lower()]
            hint = f" (did you mean {near[0]}?)" if near else f" (nodes: {', '.join(names)})"
            problems.error(
                path, line, f"NODE_NAME {name} is not a node of cluster {cluster.name}{hint}"
            )


def _failover_only(package: Package, problems: Problems) -> None:
    if package.is_failover:
        return
    for entry in walk(package.document.entries):
        placement = PACKAGE_SCHEMA.find(entry.keyword)
        if placement is None or not placement.param.failover_only:
            continue
        param = placement.param
        if param.default is not None and entry.value == param.default:
            continue
        path = entry.source or package.origin.path
        problems.error(
            path,
            entry.line,
            f"{entry.keyword} {param.type.render(entry.value)} applies to failover packages "
            f"only; package {package.name} is multi_node (it runs on several nodes at once)",
        )


def _services(package: Package, seen: dict[str, tuple[str, str, int]], problems: Problems) -> None:
    for service in package.services:
        path, line = service.origin.where()
        first = seen.setdefault(service.name, (package.name, path, line))
        if first != (package.name, path, line):
            problems.error(
                path,
                line,
                f"SERVICE_NAME {service.name} is already a service of package {first[0]} "
                f"({first[1]}:{first[2]}); service names are unique in the cluster",
            )
        if service.fail_fast and service.restart is None:
            problems.warn(
                *service.origin.where("SERVICE_FAIL_FAST_ENABLED"),
                f"service {service.name} restarts without limit, so it never fails for good "
                "and SERVICE_FAIL_FAST_ENABLED never resets the node",
            )
    halt = package.halt_script_timeout_us
    total = sum(s.halt_timeout_us for s in package.services)
    if halt is not None and package.services and total >= halt:
        problems.warn(
            *package.origin.where("HALT_SCRIPT_TIMEOUT"),
            f"HALT_SCRIPT_TIMEOUT {human_duration(halt)} is not longer than the services' "
            f"SERVICE_HALT_TIMEOUTs together ({human_duration(total)})",
        )


def _priority(package: Package, seen: dict[int, tuple[str, str, int]], problems: Problems) -> None:
    if package.priority is None:
        return
    path, line = package.origin.where("PRIORITY")
    first = seen.setdefault(package.priority, (package.name, path, line))
    if first[0] != package.name:
        problems.error(
            path,
            line,
            f"PRIORITY {package.priority} is also package {first[0]}'s ({first[1]}:{first[2]}); "
            "priorities are unique in the cluster",
        )


def resolve_subnet(text: str, known: frozenset[IPNetwork]) -> IPNetwork | None:
    """The subnet `text` names: as written with a prefix, else the cluster's by address."""
    if "/" in text:
        return ipaddress.ip_network(text)
    address = ipaddress.ip_address(text)
    matches = [net for net in known if net.network_address == address]
    return max(matches, key=lambda n: n.prefixlen) if matches else None


def _subnet_on_nodes(
    *,
    keyword: str,
    subnet: str,
    net: IPNetwork,
    package: Package,
    cluster: Cluster,
    where: tuple[str, int],
    problems: Problems,
) -> None:
    for name in package.eligible_nodes(cluster):
        node = cluster.node(name)
        if node is None or not node.all_prefixed:
            continue  # unknown node: reported elsewhere; addresses without prefix: cannot tell
        if net not in node.subnets:
            problems.error(
                *where,
                f"{keyword} {subnet} is not configured on node {name}, which may run package "
                f"{package.name} (no HEARTBEAT_IP or STATIONARY_IP of {name} is in {net})",
            )


def _unknown_prefix(keyword: str, subnet: str) -> str:
    return (
        f"{keyword} {subnet}: its prefix length is unknown; write {subnet}/PREFIX, or give "
        "the nodes' addresses on it with their prefix (STATIONARY_IP ADDRESS/PREFIX)"
    )


def _addresses(package: Package, cluster: Cluster, owners: _Owners, problems: Problems) -> None:
    known = cluster.subnets
    for block in package.ip_subnets:
        where = block.origin.where()
        net = resolve_subnet(block.subnet, known)
        if net is None:
            problems.error(*where, _unknown_prefix("IP_SUBNET", block.subnet))
        else:
            _subnet_on_nodes(
                keyword="IP_SUBNET",
                subnet=block.subnet,
                net=net,
                package=package,
                cluster=cluster,
                where=where,
                problems=problems,
            )
        for index, text in enumerate(block.addresses):
            path, line = block.origin.where("IP_ADDRESS", index)
            address = ipaddress.ip_address(text)
            owners.claim("ip", str(address), _Owner(package.name, f"IP_ADDRESS {text}", path, line))
            if net is None:
                continue
            if address not in net:
                problems.error(path, line, f"IP_ADDRESS {text} is not in IP_SUBNET {net}")
            elif net.num_addresses > 2 and address in (net.network_address, net.broadcast_address):
                kind = "network" if address == net.network_address else "broadcast"
                problems.error(path, line, f"IP_ADDRESS {text} is the {kind} address of {net}")


def _monitored_subnets(package: Package, cluster: Cluster, problems: Problems) -> None:
    known = cluster.subnets
    for index, subnet in enumerate(package.monitored_subnets):
        where = package.origin.where("MONITORED_SUBNET", index)
        net = resolve_subnet(subnet, known)
        if net is None:
            problems.error(*where, _unknown_prefix("MONITORED_SUBNET", subnet))
        else:
            _subnet_on_nodes(
                keyword="MONITORED_SUBNET",
                subnet=subnet,
                net=net,
                package=package,
                cluster=cluster,
                where=where,
                problems=problems,
            )


def _storage(package: Package, cluster: Cluster, owners: _Owners, problems: Problems) -> None:
    for index, vg in enumerate(package.volume_groups):
        path, line = package.origin.where("VG", index)
        owners.claim("vg", vg, _Owner(package.name, f"VG {vg}", path, line))
        if cluster.volume_groups and vg not in cluster.volume_groups:
            problems.error(
                path,
                line,
                f"VG {vg} is not among the cluster's VOLUME_GROUPs "
                f"({', '.join(cluster.volume_groups)})",
            )
    for fs in package.filesystems:
        path, line = fs.origin.where()
        owners.claim("device", fs.device, _Owner(package.name, f"FS_NAME {fs.device}", path, line))
        dpath, dline = fs.origin.where("FS_DIRECTORY")
        directory = posixpath.normpath(fs.directory)
        if directory == "/":
            problems.error(dpath, dline, "FS_DIRECTORY / : a package cannot mount over the root")
        label = f"FS_DIRECTORY {fs.directory}"
        owners.claim("mount point", directory, _Owner(package.name, label, dpath, dline))


def _nested_mounts(config: Config, problems: Problems) -> None:
    """Mount a directory before anything inside it; warn across packages."""
    by_directory: dict[str, list[tuple[Package, Filesystem]]] = {}
    for package in config.packages:
        for fs in package.filesystems:
            by_directory.setdefault(posixpath.normpath(fs.directory), []).append((package, fs))
    for directory, mounts in by_directory.items():
        parent = posixpath.dirname(directory)
        while parent != "/" and parent:
            for package, fs in mounts:
                for other_package, other in by_directory.get(parent, ()):
                    _nested(package, fs, other_package, other, problems)
            parent = posixpath.dirname(parent)


def _nested(
    package: Package, fs: Filesystem, owner: Package, outer: Filesystem, problems: Problems
) -> None:
    path, line = fs.origin.where("FS_DIRECTORY")
    opath, oline = outer.origin.where("FS_DIRECTORY")
    if owner is not package:
        problems.warn(
            path,
            line,
            f"FS_DIRECTORY {fs.directory} is inside {outer.directory} of package "
            f"{owner.name} ({opath}:{oline}): they cannot move independently",
        )
    elif package.filesystems.index(outer) > package.filesystems.index(fs):
        problems.error(
            path,
            line,
            f"FS_DIRECTORY {fs.directory} is inside {outer.directory} (line {oline}), "
            f"which is mounted after it: list {outer.directory} first",
        )


def _ocf(package: Package, problems: Problems) -> None:
    for resource in package.ocf_resources:
        seen: dict[str, int] = {}
        for index, (name, _value) in enumerate(resource.parameters):
            path, line = resource.origin.where("OCF_PARAMETER", index)
            if name in seen:
                problems.error(
                    path,
                    line,
                    f"OCF_PARAMETER {name} is given twice for {resource.name} "
                    f"(first on line {seen[name]})",
                )
            seen.setdefault(name, line)
