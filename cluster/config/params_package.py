"""Every parameter of a package file, declared once (modular form; legacy names as aliases).

Times are seconds when written as bare numbers, as in Serviceguard's package files.
`module` names the cmmakepkg module that puts the parameter in a template; `online`
says whether it may change while the package runs (see online.py for the rules).

Start order of a package's resources (DESIGN.md §3): volume groups, IP addresses,
file systems, RUN_SCRIPT, OCF resources, services; halting is the exact reverse.
"""

import re

from cluster.config.params_cluster import access_policy
from cluster.config.schema import Param, Schema, ignored, unsupported
from cluster.config.types import (
    AbsPath,
    Address,
    Choice,
    Command,
    Duration,
    Flag,
    Integer,
    Name,
    Subnet,
    Text,
    Value,
    Word,
)
from cluster.config.types import Pattern as PatternType
from cluster.config.units import HOUR, SECOND
from cluster.names import node_name_problem, object_name_problem

NO_TIMEOUT = -1  # run/halt/successor timeouts: wait as long as it takes
NO_PRIORITY = 0
RESTART_NONE = 0
RESTART_UNLIMITED = -1
ALL_NODES = "*"
OCF_ROOT = "/usr/lib/ocf/resource.d"

FAILOVER = "failover"
MULTI_NODE = "multi_node"


def _node_ref(name: str) -> str | None:
    return None if name == ALL_NODES else node_name_problem(name)


def _seconds(low: int, high: int, **specials: int) -> Duration:
    return Duration(SECOND, low, high, specials)


def _ocf_parameter(match: re.Match[str]) -> str:
    value = match["value"]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return f"{match['name']}={value}"


class ObjectName:
    """Names of packages, services, dependencies and OCF resources (Serviceguard's rule)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.hint = f"a {kind} name"

    def parse(self, text: str) -> Value:
        problem = object_name_problem(text, self.kind)
        if problem:
            raise ValueError(problem)
        return text

    def render(self, value: Value) -> str:
        return str(value)


DEPENDENCY_CONDITION = PatternType(
    r"^(?P<package>[A-Za-z0-9][A-Za-z0-9_.-]*)\s*=\s*(?P<state>(?i:up|down))$",
    "PACKAGE = UP (or PACKAGE = DOWN)",
    lambda m: f"{m['package']} = {m['state'].upper()}",
)
OCF_AGENT = PatternType(
    r"^(?:ocf:)?(?P<provider>[A-Za-z0-9_][A-Za-z0-9_.-]*)[/:](?P<agent>[A-Za-z0-9_][A-Za-z0-9_.-]*)$",
    "an OCF agent as PROVIDER/AGENT (heartbeat/IPaddr2)",
    lambda m: f"{m['provider']}/{m['agent']}",
)
OCF_PARAMETER = PatternType(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=(?P<value>.*)$",
    "NAME=VALUE",
    _ocf_parameter,
)
VG_NAME = PatternType(
    r"^(?:/dev/)?(?P<vg>[A-Za-z0-9_+.-]{1,127})$",
    "a volume group name (vg01 or /dev/vg01)",
    lambda m: m["vg"],
)

_RUNNING = "halt the package (cmhaltpkg) to change it"

BASE: tuple[Param, ...] = (
    Param(
        "PACKAGE_NAME",
        ObjectName("package"),
        "the package's name, unique in the cluster",
        required=True,
        module="base",
        online=False,
        example="pkg1",
    ),
    Param(
        "PACKAGE_DESCRIPTION",
        Text(max_len=1024),
        "a sentence for cmviewcl",
        module="base",
        example="the order database",
    ),
    Param(
        "PACKAGE_TYPE",
        Choice((FAILOVER, MULTI_NODE)),
        "failover: runs on one node at a time; multi_node: on every eligible node at once",
        default=FAILOVER,
        module="base",
        online=False,
        online_note=_RUNNING,
    ),
    Param(
        "NODE_NAME",
        Name(_node_ref, "a node name or *"),
        "a node that may run the package, in order of preference; * means every node",
        repeatable=True,
        required=True,
        module="base",
        example="node1",
    ),
    Param(
        "AUTO_RUN",
        Flag(),
        "start the package when the cluster starts and fail it over when its node fails",
        default=True,
        aliases=("PKG_SWITCHING_ENABLED",),
        module="base",
    ),
    Param(
        "NODE_FAIL_FAST_ENABLED",
        Flag(),
        "reset the node if the package fails on it (so it fails over at once)",
        default=False,
        module="base",
    ),
    Param(
        "RUN_SCRIPT",
        AbsPath(),
        "run as RUN_SCRIPT start after the volume groups, addresses and file systems are up",
        module="base",
        example="/etc/cmcluster/pkg1/start.sh",
    ),
    Param(
        "RUN_SCRIPT_TIMEOUT",
        _seconds(1 * SECOND, 4294 * SECOND, no_timeout=NO_TIMEOUT),
        "RUN_SCRIPT that has not finished by then has failed (the package fails over)",
        default=NO_TIMEOUT,
        module="base",
    ),
    Param(
        "HALT_SCRIPT",
        AbsPath(),
        "run as HALT_SCRIPT stop after the services have stopped",
        module="base",
        example="/etc/cmcluster/pkg1/stop.sh",
    ),
    Param(
        "HALT_SCRIPT_TIMEOUT",
        _seconds(1 * SECOND, 4294 * SECOND, no_timeout=NO_TIMEOUT),
        "HALT_SCRIPT that has not finished by then is killed and the package marked failed",
        default=NO_TIMEOUT,
        module="base",
    ),
    Param(
        "SUCCESSOR_HALT_TIMEOUT",
        _seconds(0, 4294 * SECOND, no_timeout=NO_TIMEOUT),
        "how long to wait for packages that depend on this one to halt first (0: do not wait)",
        default=NO_TIMEOUT,
        module="base",
    ),
    Param(
        "SCRIPT_LOG_FILE",
        AbsPath(),
        "the package log (default /var/log/cmcluster/PACKAGE.log)",
        module="base",
        example="/var/log/cmcluster/pkg1.log",
    ),
    Param(
        "FAILURE_TIMEOUT",
        _seconds(0, 365 * 24 * 3600 * SECOND),
        "a node where the package failed may run it again by itself this long after the "
        "failure (Pacemaker's failure-timeout; 0: only cmmodpkg -e clears it)",
        default=0,
        module="base",
        failover_only=True,
    ),
    Param(
        "FAILOVER_POLICY",
        Choice(("configured_node", "min_package_node")),
        "where to fail over: the next NODE_NAME in order, or the node running fewest packages",
        default="configured_node",
        module="base",
        failover_only=True,
    ),
    Param(
        "FAILBACK_POLICY",
        Choice(("manual", "automatic")),
        "whether to move back to the first NODE_NAME when it returns",
        default="manual",
        module="base",
        failover_only=True,
    ),
    Param(
        "PRIORITY",
        Integer(1, 3000, {"no_priority": NO_PRIORITY}),
        "lower numbers win when packages compete for a node (unique in the cluster)",
        default=NO_PRIORITY,
        module="base",
        failover_only=True,
    ),
)

OPTIONAL: tuple[Param, ...] = (
    Param(
        "DEPENDENCY_NAME",
        ObjectName("dependency"),
        "a package this one needs, named; then DEPENDENCY_CONDITION and DEPENDENCY_LOCATION",
        repeatable=True,
        module="dependency",
        example="dbdep",
        children=(
            Param(
                "DEPENDENCY_CONDITION",
                DEPENDENCY_CONDITION,
                "the condition, PACKAGE = UP (or PACKAGE = DOWN)",
                required=True,
                module="dependency",
                example="dbpkg = UP",
            ),
            Param(
                "DEPENDENCY_LOCATION",
                Choice(("same_node", "any_node", "different_node")),
                "where the condition must hold",
                default="same_node",
                module="dependency",
            ),
        ),
    ),
    Param(
        "LOCAL_LAN_FAILOVER_ALLOWED",
        Flag(),
        "move the package's addresses to a standby interface of the same node when theirs fails",
        default=True,
        aliases=("NET_SWITCHING_ENABLED",),
        module="monitor_subnet",
    ),
    Param(
        "MONITORED_SUBNET",
        Subnet(),
        "a subnet that must be up on the node for the package to run there",
        repeatable=True,
        aliases=("SUBNET",),
        module="monitor_subnet",
        example="198.18.1.0/24",
    ),
    Param(
        "IP_SUBNET",
        Subnet(),
        "a subnet of the package's addresses (ADDRESS/PREFIX); its IP_ADDRESSes follow it",
        repeatable=True,
        module="package_ip",
        online=False,
        online_note=_RUNNING,
        example="198.18.1.0/24",
        children=(
            Param(
                "IP_ADDRESS",
                Address(),
                "a floating address of the package, added on the node that runs it",
                repeatable=True,
                module="package_ip",
                online=False,
                online_note=_RUNNING,
                failover_only=True,
                example="198.18.1.100",
            ),
        ),
    ),
    Param(
        "VG",
        VG_NAME,
        "an LVM volume group activated exclusively on the node that runs the package",
        repeatable=True,
        module="volume_group",
        online=False,
        online_note=_RUNNING,
        failover_only=True,
        example="vg01",
    ),
    Param(
        "FS_NAME",
        AbsPath(device=True),
        "a file system's device; FS_DIRECTORY and its options follow it",
        repeatable=True,
        module="filesystem",
        online=False,
        online_note=_RUNNING,
        failover_only=True,
        example="/dev/vg01/lvol1",
        children=(
            Param(
                "FS_DIRECTORY",
                AbsPath(),
                "where it is mounted",
                required=True,
                module="filesystem",
                online=False,
                online_note=_RUNNING,
                example="/data",
            ),
            Param(
                "FS_TYPE",
                Word("a file system type", r"^[a-z0-9_.]{1,32}$"),
                "its type, as for mount -t",
                default="ext4",
                module="filesystem",
                online=False,
                online_note=_RUNNING,
            ),
            Param(
                "FS_MOUNT_OPT",
                Text(max_len=1024),
                "options for mount",
                default="",
                module="filesystem",
                online=False,
                online_note=_RUNNING,
                example="-o rw",
            ),
            Param(
                "FS_UMOUNT_OPT",
                Text(max_len=1024),
                "options for umount",
                default="",
                module="filesystem",
                example="-f",
            ),
            Param(
                "FS_FSCK_OPT",
                Text(max_len=1024),
                "options for fsck; when set, fsck runs with them before mounting",
                default="",
                module="filesystem",
                example="-p",
            ),
        ),
    ),
    Param(
        "OCF_RESOURCE_NAME",
        ObjectName("OCF resource"),
        "an OCF resource agent run by the package; OCF_AGENT and its parameters follow",
        repeatable=True,
        module="ocf",
        online=False,
        online_note=_RUNNING,
        example="webip",
        children=(
            Param(
                "OCF_AGENT",
                OCF_AGENT,
                f"the agent, PROVIDER/AGENT under {OCF_ROOT}",
                required=True,
                module="ocf",
                online=False,
                online_note=_RUNNING,
                example="heartbeat/IPaddr2",
            ),
            Param(
                "OCF_PARAMETER",
                OCF_PARAMETER,
                "NAME=VALUE, passed to the agent as OCF_RESKEY_NAME (repeat for each)",
                repeatable=True,
                module="ocf",
                online=False,
                online_note=_RUNNING,
                example="ip=198.18.1.100",
            ),
            Param(
                "OCF_MONITOR_INTERVAL",
                _seconds(0, 1 * HOUR),
                "how often the agent's monitor runs (0: never)",
                default=10 * SECOND,
                module="ocf",
            ),
            Param(
                "OCF_TIMEOUT",
                _seconds(1 * SECOND, 4294 * SECOND),
                "how long start, stop and monitor may each take",
                default=20 * SECOND,
                module="ocf",
            ),
        ),
    ),
    Param(
        "SERVICE_NAME",
        ObjectName("service"),
        "a monitored process of the package, unique in the cluster; SERVICE_CMD etc. follow",
        repeatable=True,
        module="service",
        online=False,
        online_note=_RUNNING,
        example="pkg1_app",
        children=(
            Param(
                "SERVICE_CMD",
                Command(),
                "the command, absolute path first; it must stay running (its exit is a failure)",
                required=True,
                module="service",
                online=False,
                online_note=_RUNNING,
                example="/usr/local/bin/app --foreground",
            ),
            Param(
                "SERVICE_RESTART",
                Integer(1, 1_000_000, {"none": RESTART_NONE, "unlimited": RESTART_UNLIMITED}),
                "how often a failed service is restarted before the package fails",
                default=RESTART_NONE,
                module="service",
            ),
            Param(
                "SERVICE_FAIL_FAST_ENABLED",
                Flag(),
                "reset the node when the service fails for good",
                default=False,
                module="service",
            ),
            Param(
                "SERVICE_HALT_TIMEOUT",
                _seconds(0, 4294 * SECOND),
                "time between SIGTERM and SIGKILL when the service is halted",
                default=300 * SECOND,
                module="service",
            ),
        ),
    ),
    access_policy(
        "this package (who may run, halt and modify it)",
        ("PACKAGE_ADMIN",),
        "PACKAGE_ADMIN, the only role a package grants (as in Serviceguard)",
        module="acp",
    ),
)

_EMS = (
    "EMS resources are not supported: monitor with OCF_RESOURCE_NAME (an OCF agent's "
    "monitor) or a SERVICE_NAME instead"
)
CVM_UNSUPPORTED = "Veritas CVM/VxVM/CFS is not supported: use VG (LVM) and FS_NAME instead"
_TUNING = "Serviceguard tuning knob; cmcluster's drivers use their own settings"
PACKAGE_UNSUPPORTED: tuple[Param, ...] = (
    *(
        unsupported(k, _EMS)
        for k in (
            "RESOURCE_NAME",
            "RESOURCE_POLLING_INTERVAL",
            "RESOURCE_START",
            "RESOURCE_UP_VALUE",
            "DEFERRED_RESOURCE_NAME",
        )
    ),
    *(
        unsupported(k, CVM_UNSUPPORTED)
        for k in (
            "CVM_DG",
            "VXVM_DG",
            "CVM_ACTIVATION_CMD",
            "VXVOL_CMD",
            "STORAGE_GROUP",
            "CFS_MOUNT_POINT",
            "CFS_VOLUME",
            "CFS_MOUNT_OPTIONS",
            "CFS_PRIMARY_POLICY",
        )
    ),
    unsupported(
        "EXTERNAL_SCRIPT", "external scripts are not supported: use RUN_SCRIPT and HALT_SCRIPT"
    ),
    unsupported(
        "EXTERNAL_PRE_SCRIPT", "external scripts are not supported: use RUN_SCRIPT and HALT_SCRIPT"
    ),
    unsupported("WEIGHT_NAME", "package weights are not supported: use PRIORITY"),
    unsupported("WEIGHT_VALUE", "package weights are not supported: use PRIORITY"),
    unsupported("IP_SUBNET_NODE", "cross-subnet packages are not supported"),
    unsupported("MONITORED_SUBNET_ACCESS", "cross-subnet packages are not supported"),
    unsupported("CLUSTER_INTERCONNECT_SUBNET", "cluster interconnect subnets are not supported"),
    ignored("MODULE_NAME", "cmmakepkg bookkeeping", quiet=True),
    ignored("MODULE_VERSION", "cmmakepkg bookkeeping", quiet=True),
    ignored("OPERATION_SEQUENCE", "fixed start order in cmcluster", quiet=True),
    *(
        ignored(k, _TUNING)
        for k in (
            "LOG_LEVEL",
            "VGCHANGE_CMD",
            "VG_DEACTIVATION_RETRY_COUNT",
            "DEACTIVATION_RETRY_COUNT",
            "ENABLE_THREADED_VGCHANGE",
            "CONCURRENT_VGCHANGE_OPERATIONS",
            "CONCURRENT_FSCK_OPERATIONS",
            "CONCURRENT_MOUNT_AND_UMOUNT_OPERATIONS",
            "FS_MOUNT_RETRY_COUNT",
            "FS_UMOUNT_RETRY_COUNT",
            "KILL_PROCESSES_ACCESSING_RAW_DEVICES",
        )
    ),
)

PACKAGE_PARAMS = BASE + OPTIONAL
PACKAGE_SCHEMA = Schema("package", PACKAGE_PARAMS + PACKAGE_UNSUPPORTED, keyword_case="lower")
