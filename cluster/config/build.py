"""Normalized entry trees into the typed model (model.py).

The one place that maps keywords to model fields. It trusts the tree: values were typed
and range-checked by the parser, defaults filled in by `normalize`. Keyword spellings
are checked against the schema so a typo here fails loudly in tests, not silently.
"""

from cluster.config.model import (
    AccessPolicy,
    Alert,
    Cluster,
    Dependency,
    Filesystem,
    IpSubnet,
    NetworkInterface,
    Node,
    OcfResource,
    Origin,
    Package,
    Service,
)
from cluster.config.params_cluster import CLUSTER_SCHEMA
from cluster.config.params_package import (
    NO_PRIORITY,
    NO_TIMEOUT,
    PACKAGE_SCHEMA,
    RESTART_UNLIMITED,
)
from cluster.config.schema import Schema
from cluster.config.tree import Document, Entry
from cluster.config.types import Value


class _Reader:
    """Typed access to one block's children, with the block's origin."""

    def __init__(self, entry: Entry, path: str, schema: Schema) -> None:
        self.entry = entry
        self.path = entry.source or path
        self.schema = schema

    def _get(self, keyword: str) -> Value | None:
        if self.schema.find(keyword) is None:
            raise KeyError(f"{keyword} is not a {self.schema.kind} parameter")
        found = self.entry.first(keyword)
        return None if found is None else found.value

    def text(self, keyword: str) -> str | None:
        value = self._get(keyword)
        return None if value is None else str(value)

    def text_or(self, keyword: str, default: str) -> str:
        value = self.text(keyword)
        return default if value is None else value

    def number(self, keyword: str) -> int:
        value = self._get(keyword)
        if not isinstance(value, int) or isinstance(value, bool):
            raise KeyError(f"{keyword} has no number (not normalized?)")
        return value

    def flag(self, keyword: str) -> bool:
        return bool(self._get(keyword))

    def blocks(self, keyword: str) -> list["_Reader"]:
        self._get(keyword)
        return [_Reader(e, self.path, self.schema) for e in self.entry.all(keyword)]

    def texts(self, keyword: str) -> tuple[str, ...]:
        self._get(keyword)
        return tuple(str(e.value) for e in self.entry.all(keyword))

    @property
    def value(self) -> str:
        return str(self.entry.value)

    def origin(self) -> Origin:
        # Lists first, tuples at the end: growing a tuple per line was quadratic.
        lines: dict[str, list[tuple[str, int]]] = {}
        for child in self.entry.children:
            lines.setdefault(child.keyword, []).append((child.source or self.path, child.line))
        return Origin(self.path, self.entry.line, {k: tuple(v) for k, v in lines.items()})


def _timeout(value: int) -> int | None:
    return None if value == NO_TIMEOUT else value


def build_cluster(document: Document) -> Cluster:
    top = _Reader(document.as_entry(), document.path, CLUSTER_SCHEMA)
    return Cluster(
        name=top.text_or("CLUSTER_NAME", ""),
        nodes=tuple(_node(n) for n in top.blocks("NODE_NAME")),
        member_timeout_us=top.number("MEMBER_TIMEOUT"),
        auto_start_timeout_us=top.number("AUTO_START_TIMEOUT"),
        network_polling_interval_us=top.number("NETWORK_POLLING_INTERVAL"),
        network_failure_detection=top.text_or("NETWORK_FAILURE_DETECTION", ""),
        max_configured_packages=top.number("MAX_CONFIGURED_PACKAGES"),
        qs_host=top.text("QS_HOST"),
        qs_addr=top.text("QS_ADDR"),
        qs_polling_interval_us=top.number("QS_POLLING_INTERVAL"),
        qs_timeout_extension_us=top.number("QS_TIMEOUT_EXTENSION"),
        watchdog_device=top.text("WATCHDOG_DEVICE"),
        volume_groups=top.texts("VOLUME_GROUP"),
        access_policies=tuple(_policy(u) for u in top.blocks("USER_NAME")),
        alerts=tuple(_alert(a) for a in top.blocks("ALERT_SCRIPT")),
        origin=top.origin(),
        document=document,
    )


def _alert(alert: _Reader) -> Alert:
    return Alert(
        name=alert.value.rsplit("/", 1)[-1],
        script=alert.value,
        recipient=alert.text_or("ALERT_RECIPIENT", ""),
        events=tuple(alert.text_or("ALERT_EVENTS", "all").split(",")),
        timeout_us=alert.number("ALERT_TIMEOUT"),
        origin=alert.origin(),
    )


def _node(node: _Reader) -> Node:
    interfaces = tuple(
        NetworkInterface(
            name=i.value,
            heartbeat_ips=i.texts("HEARTBEAT_IP"),
            stationary_ips=i.texts("STATIONARY_IP"),
            origin=i.origin(),
        )
        for i in node.blocks("NETWORK_INTERFACE")
    )
    return Node(node.value, interfaces, node.origin())


def _policy(user: _Reader) -> AccessPolicy:
    return AccessPolicy(
        users=tuple(user.value.split()),
        host=user.text_or("USER_HOST", ""),
        role=user.text_or("USER_ROLE", ""),
        origin=user.origin(),
    )


def build_package(document: Document) -> Package:
    top = _Reader(document.as_entry(), document.path, PACKAGE_SCHEMA)
    priority = top._get("PRIORITY")
    return Package(
        name=top.text_or("PACKAGE_NAME", ""),
        type=top.text_or("PACKAGE_TYPE", "failover"),
        node_names=top.texts("NODE_NAME"),
        auto_run=top.flag("AUTO_RUN"),
        node_fail_fast=top.flag("NODE_FAIL_FAST_ENABLED"),
        run_script_timeout_us=_timeout(top.number("RUN_SCRIPT_TIMEOUT")),
        halt_script_timeout_us=_timeout(top.number("HALT_SCRIPT_TIMEOUT")),
        successor_halt_timeout_us=_timeout(top.number("SUCCESSOR_HALT_TIMEOUT")),
        local_lan_failover=top.flag("LOCAL_LAN_FAILOVER_ALLOWED"),
        description=top.text_or("PACKAGE_DESCRIPTION", ""),
        run_script=top.text("RUN_SCRIPT"),
        halt_script=top.text("HALT_SCRIPT"),
        script_log_file=top.text("SCRIPT_LOG_FILE"),
        failover_policy=top.text_or("FAILOVER_POLICY", "configured_node"),
        failback_policy=top.text_or("FAILBACK_POLICY", "manual"),
        priority=None if priority in (None, NO_PRIORITY) else int(priority),
        failure_timeout_us=int(top._get("FAILURE_TIMEOUT") or 0),  # failover packages only
        dependencies=tuple(_dependency(d) for d in top.blocks("DEPENDENCY_NAME")),
        monitored_subnets=top.texts("MONITORED_SUBNET"),
        ip_subnets=tuple(
            IpSubnet(s.value, s.texts("IP_ADDRESS"), s.origin()) for s in top.blocks("IP_SUBNET")
        ),
        volume_groups=top.texts("VG"),
        filesystems=tuple(_filesystem(f) for f in top.blocks("FS_NAME")),
        ocf_resources=tuple(_ocf(o) for o in top.blocks("OCF_RESOURCE_NAME")),
        services=tuple(_service(s) for s in top.blocks("SERVICE_NAME")),
        access_policies=tuple(_policy(u) for u in top.blocks("USER_NAME")),
        origin=top.origin(),
        document=document,
    )


def _dependency(dep: _Reader) -> Dependency:
    condition = dep.text_or("DEPENDENCY_CONDITION", " = UP")
    package, _, state = condition.partition(" = ")
    return Dependency(
        dep.value, package, state, dep.text_or("DEPENDENCY_LOCATION", "same_node"), dep.origin()
    )


def _filesystem(fs: _Reader) -> Filesystem:
    return Filesystem(
        device=fs.value,
        directory=fs.text_or("FS_DIRECTORY", ""),
        type=fs.text_or("FS_TYPE", ""),
        mount_options=fs.text_or("FS_MOUNT_OPT", ""),
        umount_options=fs.text_or("FS_UMOUNT_OPT", ""),
        fsck_options=fs.text_or("FS_FSCK_OPT", ""),
        origin=fs.origin(),
    )


def _ocf(ocf: _Reader) -> OcfResource:
    parameters = tuple(
        (name, value) for name, _, value in (p.partition("=") for p in ocf.texts("OCF_PARAMETER"))
    )
    return OcfResource(
        name=ocf.value,
        agent=ocf.text_or("OCF_AGENT", ""),
        parameters=parameters,
        monitor_interval_us=ocf.number("OCF_MONITOR_INTERVAL"),
        timeout_us=ocf.number("OCF_TIMEOUT"),
        origin=ocf.origin(),
    )


def _service(svc: _Reader) -> Service:
    restart = svc.number("SERVICE_RESTART")
    return Service(
        name=svc.value,
        command=svc.text_or("SERVICE_CMD", ""),
        restart=None if restart == RESTART_UNLIMITED else restart,
        fail_fast=svc.flag("SERVICE_FAIL_FAST_ENABLED"),
        halt_timeout_us=svc.number("SERVICE_HALT_TIMEOUT"),
        origin=svc.origin(),
    )
