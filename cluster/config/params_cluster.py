"""Every parameter of the cluster file (cluster.ascii), declared once.

Times are microseconds when written as bare numbers, as in Serviceguard's cluster file;
ranges and defaults follow "Managing Serviceguard" (A.11.19 and later) where cmcluster has
the same feature. The heartbeat interval is not a parameter: it is MEMBER_TIMEOUT/10, at
most 1 s (DESIGN.md §2), so the two can never disagree.
"""

from cluster.config.schema import Param, Schema, ignored, unsupported
from cluster.config.types import (
    AbsPath,
    Address,
    Choice,
    Duration,
    Host,
    Integer,
    Name,
    Text,
    Value,
)
from cluster.config.types import Pattern as PatternType
from cluster.config.units import HOUR, MICROSECOND, SECOND
from cluster.core.events import parse_kinds
from cluster.names import (
    cluster_name_problem,
    node_name_problem,
    user_name_problem,
)

ANY_USER = "ANY_USER"
USER_HOST_WORDS = ("ANY_SERVICEGUARD_NODE", "CLUSTER_MEMBER_NODE")
MAX_NODES = 64
_RUNNING_CLUSTER = "halt the cluster (cmhaltcl) to change it"


class UserNames:
    """USER_NAME: ANY_USER, or user names separated by spaces (`john fred`)."""

    hint = "ANY_USER or user names separated by spaces"

    def parse(self, text: str) -> Value:
        names = text.split()
        if not names:
            raise ValueError("give ANY_USER or at least one user name")
        if len(names) == 1 and names[0].upper() == ANY_USER:
            return ANY_USER
        for name in names:
            if name.upper() == ANY_USER:
                raise ValueError("ANY_USER cannot be combined with user names")
            problem = user_name_problem(name)
            if problem:
                raise ValueError(problem)
        if len(set(names)) != len(names):
            raise ValueError("a user name is listed twice")
        return " ".join(names)

    def render(self, value: Value) -> str:
        return str(value)


class UserHost:
    """USER_HOST: ANY_SERVICEGUARD_NODE, CLUSTER_MEMBER_NODE or one host name."""

    hint = "ANY_SERVICEGUARD_NODE, CLUSTER_MEMBER_NODE or a host name"

    def parse(self, text: str) -> Value:
        if text.upper() in USER_HOST_WORDS:
            return text.upper()
        try:
            return Host().parse(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not {self.hint}") from exc

    def render(self, value: Value) -> str:
        return str(value)


class AlertEvents:
    """ALERT_EVENTS: `all`, or event kinds (cluster/core/events.py) separated by commas."""

    hint = "all, or event kinds separated by commas (node_failed,package_moved)"

    def parse(self, text: str) -> Value:
        return ",".join(parse_kinds(text))

    def render(self, value: Value) -> str:
        return str(value)


INTERFACE = PatternType(
    r"^[A-Za-z0-9_.:@-]{1,15}$", "an interface name (up to 15 characters)", lambda m: m[0]
)
VOLUME_GROUP_NAME = PatternType(
    r"^(?:/dev/)?(?P<vg>[A-Za-z0-9_+.-]{1,127})$",
    "a volume group name (vg01 or /dev/vg01)",
    lambda m: m["vg"],
)


def _micros(low: int, high: int) -> Duration:
    return Duration(MICROSECOND, low, high)


NODE = Param(
    "NODE_NAME",
    Name(node_name_problem, "a node name"),
    "a cluster node, followed by its network interfaces (its host name)",
    repeatable=True,
    required=True,
    example="node1",
    children=(
        Param(
            "NETWORK_INTERFACE",
            INTERFACE,
            "an interface of the node; with no IP below it, a standby for local LAN failover",
            repeatable=True,
            example="eth0",
            children=(
                Param(
                    "HEARTBEAT_IP",
                    Address(prefix=True),
                    "an address of this interface that carries heartbeats (ADDRESS/PREFIX)",
                    repeatable=True,
                    example="198.18.0.1/24",
                ),
                Param(
                    "STATIONARY_IP",
                    Address(prefix=True),
                    "a fixed data address of this interface, monitored but no heartbeat",
                    repeatable=True,
                    example="198.18.1.1/24",
                ),
            ),
        ),
    ),
)


def access_policy(whom: str, roles: tuple[str, ...], role_doc: str, module: str = "") -> Param:
    """USER_NAME with its USER_HOST and USER_ROLE: Serviceguard's access-control policy,
    in the cluster file (`whom`: the cluster) and in a package file (the package)."""
    return Param(
        "USER_NAME",
        UserNames(),
        f"an access-control policy of {whom}: who (ANY_USER or user names), then "
        "USER_HOST and USER_ROLE",
        repeatable=True,
        unique=False,
        module=module,
        example="john fred",
        children=(
            Param(
                "USER_HOST",
                UserHost(),
                "where the user may connect from: ANY_SERVICEGUARD_NODE, "
                "CLUSTER_MEMBER_NODE, a node name or an IP address",
                default="ANY_SERVICEGUARD_NODE",
                module=module,
            ),
            Param(
                "USER_ROLE",
                Choice(roles),
                role_doc,
                required=True,
                module=module,
                example=roles[0],
            ),
        ),
    )


ALERT = Param(
    "ALERT_SCRIPT",
    AbsPath(),
    "an alert: a script (the same path on every node) run for the cluster events each "
    "node sees, with the event in CM_ALERT_* variables (Pacemaker's alert agents, "
    "keepalived's notify scripts); it never blocks a failover and is not retried. "
    "Optional below it: ALERT_RECIPIENT, ALERT_EVENTS, ALERT_TIMEOUT",
    repeatable=True,
    unique=False,  # the same script for two recipients
    example="/usr/local/share/cmcluster/alerts/syslog.sh",
    children=(
        Param(
            "ALERT_RECIPIENT",
            Text(max_len=1024),
            "passed to the script as CM_ALERT_RECIPIENT: a mail address, a URL, a file",
            example="ops@example.com",
        ),
        Param(
            "ALERT_EVENTS",
            AlertEvents(),
            "which events run the script",
            default="all",
        ),
        Param(
            "ALERT_TIMEOUT",
            _micros(1 * SECOND, 600 * SECOND),
            "a script still running this long after it started is killed (and logged)",
            default=30 * SECOND,
        ),
    ),
)

USER = access_policy(
    "the cluster",
    ("MONITOR", "PACKAGE_ADMIN", "FULL_ADMIN"),
    "what the user may do: MONITOR (read), PACKAGE_ADMIN (run/halt/modify packages), "
    "FULL_ADMIN (everything)",
)

CLUSTER_PARAMS: tuple[Param, ...] = (
    Param(
        "CLUSTER_NAME",
        Name(cluster_name_problem, "a cluster name"),
        "the cluster's name, unique on its networks",
        required=True,
        online=False,
        online_note="a cluster cannot be renamed while it runs",
        example="cluster1",
    ),
    Param(
        "QS_HOST",
        Host(),
        "the quorum server (cmqsd): the tie-breaker vote when exactly half the nodes remain",
        online=False,
        online_note="the quorum server votes in membership decisions; " + _RUNNING_CLUSTER,
        example="qs.example.com",
    ),
    Param(
        "QS_ADDR",
        Host(),
        "a second address of the quorum server, on another subnet",
        online=False,
        online_note="the quorum server votes in membership decisions; " + _RUNNING_CLUSTER,
        example="198.18.2.10",
    ),
    Param(
        "QS_POLLING_INTERVAL",
        _micros(10 * SECOND, 2_147_483_647),
        "how often the nodes check that the quorum server answers",
        default=300 * SECOND,
    ),
    Param(
        "QS_TIMEOUT_EXTENSION",
        _micros(0, 300 * SECOND),
        "added to the quorum server's answer timeout (0.1 x MEMBER_TIMEOUT for 2 nodes, "
        "0.2 x otherwise)",
        default=0,
    ),
    NODE,
    Param(
        "MEMBER_TIMEOUT",
        _micros(1 * SECOND, 300 * SECOND),
        "a node not heard for this long is out of the cluster; heartbeats go every "
        "MEMBER_TIMEOUT/10 (at most 1s)",
        default=14 * SECOND,
        online=False,
        online_note="nodes hold leases granted under the current value; " + _RUNNING_CLUSTER,
    ),
    Param(
        "AUTO_START_TIMEOUT",
        _micros(1 * SECOND, 24 * HOUR),
        "how long a booting node waits for the other nodes before giving up forming the cluster",
        default=600 * SECOND,
    ),
    Param(
        "NETWORK_POLLING_INTERVAL",
        _micros(1 * SECOND, 30 * SECOND),
        "how often every configured interface is checked",
        default=2 * SECOND,
    ),
    Param(
        "NETWORK_FAILURE_DETECTION",
        Choice(("INOUT", "INONLY_OR_INOUT")),
        "Serviceguard's traffic-counting detection, accepted for its files: cmcluster "
        "judges an interface by its link (carrier), whichever is set",
        default="INOUT",
    ),
    Param(
        "MAX_CONFIGURED_PACKAGES",
        Integer(0, 300),
        "the most packages this cluster may have",
        default=300,
    ),
    Param(
        "WATCHDOG_DEVICE",
        AbsPath(),
        "a watchdog (softdog or hardware) the lease guard feeds, so a node frozen or cut "
        "off is reset before its lease ends; needs MEMBER_TIMEOUT of 2.55 s or more "
        "(same path on every node)",
        online=False,
        online_note="the lease guard holds the watchdog open; " + _RUNNING_CLUSTER,
        example="/dev/watchdog",
    ),
    Param(
        "VOLUME_GROUP",
        VOLUME_GROUP_NAME,
        "a volume group under cluster control; when any is listed, packages may use only these",
        repeatable=True,
        example="vg01",
    ),
    ALERT,
    USER,
)

_LOCK = "cluster lock disks are not supported: use QS_HOST (a quorum server) instead"
_CAPACITY = "package capacities and weights are not supported: use PRIORITY and FAILOVER_POLICY"
CLUSTER_UNSUPPORTED: tuple[Param, ...] = (
    *(
        unsupported(k, _LOCK)
        for k in (
            "FIRST_CLUSTER_LOCK_VG",
            "SECOND_CLUSTER_LOCK_VG",
            "FIRST_CLUSTER_LOCK_PV",
            "SECOND_CLUSTER_LOCK_PV",
            "CLUSTER_LOCK_LUN",
            "LOCK_LUN",
            "CLUSTER_LOCK_TIMEOUT",
        )
    ),
    unsupported(
        "HEARTBEAT_INTERVAL",
        "not supported: set MEMBER_TIMEOUT instead (heartbeats go every MEMBER_TIMEOUT/10)",
    ),
    unsupported("NODE_TIMEOUT", "not supported: use MEMBER_TIMEOUT instead"),
    unsupported("SERIAL_DEVICE_FILE", "serial heartbeats are not supported: use HEARTBEAT_IP"),
    unsupported("SITE_NAME", "sites are not supported: use one cluster per site"),
    unsupported("SITE", "sites are not supported: use one cluster per site"),
    *(unsupported(k, _CAPACITY) for k in ("CAPACITY_NAME", "CAPACITY_VALUE")),
    *(unsupported(k, _CAPACITY) for k in ("WEIGHT_NAME", "WEIGHT_DEFAULT")),
    unsupported(
        "OPS_VOLUME_GROUP",
        "shared (OPS/RAC) volume groups are not supported: use VOLUME_GROUP with one package",
    ),
    unsupported(
        "CVM_DG", "Veritas CVM/CFS is not supported: use VOLUME_GROUP (LVM) and FS_NAME instead"
    ),
    unsupported(
        "IP_MONITOR", "IP-level monitoring is not supported: see NETWORK_FAILURE_DETECTION"
    ),
    unsupported(
        "POLLING_TARGET", "IP-level monitoring is not supported: see NETWORK_FAILURE_DETECTION"
    ),
    ignored("HOSTNAME_ADDRESS_FAMILY", "IPv4 and IPv6 are both used as configured", quiet=True),
)

CLUSTER_SCHEMA = Schema("cluster", CLUSTER_PARAMS + CLUSTER_UNSUPPORTED, keyword_case="upper")
