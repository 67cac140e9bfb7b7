"""Commented templates generated from the declarations: cmmakepkg and cmquerycl -C.

Every parameter appears with its one line of doc and a line saying its type, range and
default. A parameter with a default is written active with it; one without is written
commented out with an example, so the template parses as soon as the required values
are filled in. Package modules select sections as Serviceguard's cmmakepkg -m does.
"""

from collections.abc import Iterable, Sequence

from cluster.config.lexer import quote
from cluster.config.params_cluster import CLUSTER_PARAMS, CLUSTER_SCHEMA, NODE
from cluster.config.params_package import MULTI_NODE, PACKAGE_PARAMS, PACKAGE_SCHEMA
from cluster.config.render import line
from cluster.config.schema import Param, Schema
from cluster.core.model import NodeInfo
from cluster.network.subnets import heartbeat_candidates

# module -> what it configures; "failover" and "multi_node" are the base modules.
MODULES: dict[str, str] = {
    "failover": "base: a package that runs on one node at a time",
    "multi_node": "base: a package that runs on every eligible node at once",
    "dependency": "packages this one needs (dependency_name, ...)",
    "monitor_subnet": "subnets that must be up where the package runs",
    "package_ip": "floating IP addresses (ip_subnet, ip_address)",
    "volume_group": "LVM volume groups (vg)",
    "filesystem": "file systems to check and mount (fs_name, fs_directory, ...)",
    "service": "monitored processes (service_name, service_cmd, ...)",
    "ocf": "OCF resource agents (ocf_resource_name, ocf_agent, ...)",
    "acp": "access-control policies of the package (user_name, user_host, user_role)",
    "all": "every module (the default)",
}
ALIASES = {"basic": "failover", "default": "all", "multi_node_all": "all"}
BASES = ("failover", "multi_node")
FAILOVER_MODULES = ("volume_group", "filesystem")  # exclusive storage: one node at a time


def parse_modules(names: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    """(base module, optional modules) from cmmakepkg -m arguments; raises ValueError."""
    chosen: list[str] = []
    for raw in names:
        name = raw.lower().removeprefix("sg/").removeprefix("cm/")
        name = ALIASES.get(name, name)
        if name not in MODULES:
            known = ", ".join(f"sg/{m}" for m in MODULES)
            raise ValueError(f"unknown module {raw!r} (modules: {known})")
        if name not in chosen:
            chosen.append(name)
    bases = [m for m in chosen if m in BASES]
    if len(bases) > 1:
        raise ValueError("choose one base module: sg/failover or sg/multi_node")
    base = bases[0] if bases else "failover"
    optional = [m for m in chosen if m not in BASES]
    if not chosen or "all" in optional:  # no -m at all means sg/all, as in Serviceguard
        optional = [m for m in MODULES if m not in (*BASES, "all")]
        if base == MULTI_NODE:
            optional = [m for m in optional if m not in FAILOVER_MODULES]
    for module in optional:
        if base == MULTI_NODE and module in FAILOVER_MODULES:
            raise ValueError(
                f"sg/{module} is for failover packages: a multi_node package runs on "
                "several nodes at once"
            )
    return base, tuple(optional)


def package_template(modules: Sequence[str] = ()) -> str:
    """The commented package file cmmakepkg writes."""
    base, optional = parse_modules(modules)
    names = [f"sg/{m}" for m in (base, *optional)]
    out = [
        "# cmcluster package configuration (cmmakepkg " + " ".join(f"-m {n}" for n in names) + ")",
        "#",
        "# Fill in at least package_name and node_name (uncomment the lines), then check",
        "# the file with cmcheckconf -P FILE and apply it with cmapplyconf -P FILE.",
        "# Keywords are case-insensitive. Times are seconds unless a unit is given",
        "# (500ms, 2min); values keep their spaces; # starts a comment.",
    ]
    sections = {"base": [p for p in PACKAGE_PARAMS if p.module == "base"]}
    for module in optional:
        sections[module] = [p for p in PACKAGE_PARAMS if p.module == module]
    for module, params in sections.items():
        title = MODULES[base] if module == "base" else MODULES[module]
        out += ["", "", f"# ---- {('sg/' + base) if module == 'base' else 'sg/' + module}: {title}"]
        for param in params:
            if base == MULTI_NODE and param.failover_only:
                continue
            fixed = MULTI_NODE if (param.keyword == "PACKAGE_TYPE" and base == MULTI_NODE) else None
            _param(
                PACKAGE_SCHEMA,
                param,
                0,
                out,
                commented=False,
                value=fixed,
                skip_failover=base == MULTI_NODE,
            )
    return "\n".join(out) + "\n"


def render_cluster_template(
    cluster_name: str,
    infos: Sequence[NodeInfo],
    qs_host: str | None = None,
    qs_addr: str | None = None,
) -> str:
    """The commented cluster file cmquerycl -C writes from the nodes' networks.

    Subnets on which every node has an address on a link that is up carry heartbeats
    (HEARTBEAT_IP); other addresses are STATIONARY_IPs; an interface without an address
    is a standby. Addresses are written with their prefix, which the package checks need.
    """
    names = ", ".join(i.node_name for i in infos)
    out = [
        "# cmcluster cluster configuration (cmquerycl -C)",
        f"# nodes: {names}",
        "#",
        "# Check it with cmcheckconf -C FILE, apply it with cmapplyconf -C FILE.",
        "# Keywords are case-insensitive. Times are microseconds unless a unit is given",
        "# (14s, 500ms), as in Serviceguard.",
    ]
    given = {"CLUSTER_NAME": cluster_name, "QS_HOST": qs_host, "QS_ADDR": qs_addr}
    for param in CLUSTER_PARAMS:
        if param.unsupported or param.ignored:
            continue
        if param is NODE:
            out.append("")
            _nodes(infos, out)
            continue
        if param.keyword == "QS_HOST" and not qs_host and len(infos) == 2:
            out += ["", "# A two-node cluster needs a quorum server: set QS_HOST (cmquerycl -q)."]
        value = given.get(param.keyword)
        _param(CLUSTER_SCHEMA, param, 0, out, commented=False, value=value)
    return "\n".join(out) + "\n"


def _nodes(infos: Sequence[NodeInfo], out: list[str]) -> None:
    heartbeat = {net.subnet for net in heartbeat_candidates(infos)}
    interface_param = NODE.child("NETWORK_INTERFACE")
    hb_param = interface_param.child("HEARTBEAT_IP")
    fixed_param = interface_param.child("STATIONARY_IP")
    out.append(f"# NODE_NAME: {NODE.doc}")
    out.append(f"#{' ' * 4}NETWORK_INTERFACE: {interface_param.doc}")
    if not heartbeat:
        out.append("# No subnet connects every node: no HEARTBEAT_IP could be chosen.")
    for info in infos:
        out.append(line(CLUSTER_SCHEMA, NODE, info.node_name, 0))
        for interface in info.interfaces:
            if interface.loopback or interface.master:
                continue
            addresses = [a for a in interface.addresses if a.scope == "global" and not a.secondary]
            if not addresses and not interface.admin_up:
                continue
            note = "" if interface.link_up else "    # link down"
            if not addresses:
                note += "    # standby: no address"
            out.append(line(CLUSTER_SCHEMA, interface_param, interface.name, 1) + note)
            for address in addresses:
                param = hb_param if address.subnet in heartbeat else fixed_param
                value = f"{address.address}/{address.prefix_len}"
                out.append(line(CLUSTER_SCHEMA, param, value, 2))


def _param(
    schema: Schema,
    param: Param,
    depth: int,
    out: list[str],
    *,
    commented: bool,
    value: str | None = None,
    skip_failover: bool = False,
) -> None:
    """Doc lines, then the parameter active (given value or default) or as an example."""
    if param.unsupported or param.ignored:
        return
    keyword = schema.spell(param.keyword)
    pad = " " * (4 * depth)
    if depth == 0:
        out.append("")
    out.append(f"#{pad} {keyword}: {param.doc}")
    out.append(f"#{pad}   ({_describe(param)})")
    if value is None and param.default is not None and not param.repeatable:
        value = param.type.render(param.default)
        active = not commented
    else:
        active = value is not None and not commented
        value = value if value is not None else param.example
    out.append(line(schema, param, _quoted(value), depth, commented=not active))
    for child in param.children:
        if skip_failover and child.failover_only:
            continue
        _param(schema, child, depth + 1, out, commented=commented or not active)


def _quoted(value: str) -> str:
    return quote(value) if value else '""'


def _describe(param: Param) -> str:
    parts = [param.type.hint]
    if param.default is not None and not param.repeatable:
        parts.append(f"default {param.type.render(param.default) or chr(34) * 2}")
    if param.required:
        parts.append("required")
    if param.repeatable:
        parts.append("repeat for each")
    return "; ".join(parts)
