"""What cmapplyconf may change while the cluster runs."""

from cluster.config.model import Config
from cluster.config.online import Running, online_refusals

from .helpers import THREE_NODES, config

QS = THREE_NODES + "MEMBER_TIMEOUT 14s\n"
DB = """
package_name db
node_name a
node_name b
auto_run yes
ip_subnet 198.18.1.0/24
ip_address 198.18.1.100
vg vg01
service_name dbsvc
service_cmd /opt/db/bin/db
service_restart 2
"""
WEB = "package_name web\nnode_name b\nnode_name c\n"


def refusals(old: Config, new: Config, running: Running) -> list[str]:
    return [p.message for p in online_refusals(old, new, running)]


ALL_UP = frozenset({"a", "b", "c"})
DB_ON_A = Running(ALL_UP, {"db": frozenset({"a"})})


def test_a_halted_cluster_takes_anything() -> None:
    old = config(QS, DB, WEB)
    new = config(QS.replace("14s", "5s").replace("CLUSTER_NAME c1", "CLUSTER_NAME c2"))
    assert refusals(old, new, Running()) == []


def test_timing_and_quorum_need_a_halted_cluster_other_tuning_does_not() -> None:
    old = config(QS, DB)
    new = config(QS.replace("14s", "7s") + "NETWORK_POLLING_INTERVAL 3s\nQS_HOST qs1\n", DB)
    assert refusals(old, new, DB_ON_A) == [
        "cannot change QS_HOST from (none) to qs1 while the cluster runs: the quorum server "
        "votes in membership decisions; halt the cluster (cmhaltcl) to change it",
        "cannot change MEMBER_TIMEOUT from 14000000 to 7000000 while the cluster runs: nodes "
        "hold leases granted under the current value; halt the cluster (cmhaltcl) to change it",
    ]


def test_running_packages_keep_their_resources_but_not_their_policies() -> None:
    old = config(QS, DB, WEB)
    changed = (
        DB.replace("auto_run yes", "auto_run no")
        .replace("service_restart 2", "service_restart unlimited")
        .replace("vg vg01", "vg vg02")
        .replace("/opt/db/bin/db", "/opt/db/bin/db2")
    )
    new = config(QS, changed, WEB.replace("node_name c", "node_name a"))
    assert refusals(old, new, DB_ON_A) == [
        "package db runs on a: cannot change VG from vg01 to vg02; halt the package (cmhaltpkg) "
        "to change it",
        "package db runs on a: cannot change SERVICE_CMD from /opt/db/bin/db to /opt/db/bin/db2 "
        "of SERVICE_NAME dbsvc; halt the package (cmhaltpkg) to change it",
    ]
    # the same change to a halted package is fine
    assert refusals(old, new, Running(ALL_UP)) == []


def test_removing_and_adding_packages() -> None:
    old = config(QS, DB, WEB)
    assert refusals(old, config(QS, WEB), DB_ON_A) == [
        "package db runs on a: halt it (cmhaltpkg) before removing it"
    ]
    assert refusals(old, config(QS, DB), DB_ON_A) == []  # web is halted
    extra = "package_name new\nnode_name c\nip_subnet 198.18.1.0/24\nip_address 198.18.1.9\n"
    assert refusals(old, config(QS, DB, WEB, extra), DB_ON_A) == []


def test_node_list_must_keep_the_node_it_runs_on() -> None:
    old = config(QS, DB)
    new = config(QS, DB.replace("node_name a\n", ""))
    assert refusals(old, new, DB_ON_A) == [
        "package db runs on a: its new NODE_NAME list leaves out a; move or halt the package first"
    ]


def test_a_new_dependency_must_hold_now() -> None:
    old = config(QS, DB, WEB)
    dep = "dependency_name needs_web\ndependency_condition web = up\ndependency_location any_node\n"
    new = config(QS, DB + dep, WEB)
    assert refusals(old, new, DB_ON_A) == [
        "package db runs on a: the new dependency web = UP (any_node) does not hold now: web is "
        "halted; start it first"
    ]
    running = Running(ALL_UP, {"db": frozenset({"a"}), "web": frozenset({"b"})})
    assert refusals(old, new, running) == []


def test_nodes_join_freely_but_leave_after_cmhaltnode() -> None:
    two = THREE_NODES.split("NODE_NAME c")[0] + "QS_HOST qs\n"
    old = config(two + "MEMBER_TIMEOUT 14s\nQS_HOST qs\n".replace("QS_HOST qs\n", ""), DB)
    bigger = config(QS.replace("MEMBER_TIMEOUT", "QS_HOST qs\nMEMBER_TIMEOUT"), DB)
    running_ab = Running(frozenset({"a", "b"}), {"db": frozenset({"a"})})
    assert refusals(old, bigger, running_ab) == []
    assert refusals(bigger, old, running_ab) == []  # c is not running
    running_all = Running(ALL_UP, {"db": frozenset({"a"})})
    assert refusals(bigger, old, running_all) == [
        "node c is running: halt it (cmhaltnode c) before removing it from the cluster"
    ]


def test_a_running_node_keeps_one_heartbeat_per_change() -> None:
    old = config(QS, DB)
    new = config(QS.replace("HEARTBEAT_IP 198.18.0.1/24", "HEARTBEAT_IP 198.18.0.11/24"), DB)
    assert refusals(old, new, DB_ON_A) == [
        "cannot change every HEARTBEAT_IP of running node a at once (198.18.0.1 -> "
        "198.18.0.11): keep one in this change"
    ]
    two_heartbeats = QS.replace(
        "    HEARTBEAT_IP 198.18.0.1/24",
        "    HEARTBEAT_IP 198.18.0.1/24\n    HEARTBEAT_IP 198.18.3.1/24",
    )
    keeps_one = two_heartbeats.replace("198.18.0.1/24", "198.18.0.11/24")
    assert refusals(config(two_heartbeats, DB), config(keeps_one, DB), DB_ON_A) == []
