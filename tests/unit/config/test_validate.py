"""Semantic checks beyond the corpus: warnings, subnet prefixes, merging with what is applied."""

from .helpers import THREE_NODES, check, config, messages

PAIR = """
CLUSTER_NAME pair
QS_HOST qs
NODE_NAME a
  NETWORK_INTERFACE eth0
    HEARTBEAT_IP 198.18.0.1/24
NODE_NAME b
  NETWORK_INTERFACE eth0
    HEARTBEAT_IP 198.18.0.2/24
"""


def test_timing_warnings() -> None:
    assert messages(check(PAIR + "MEMBER_TIMEOUT 5s\n"), warnings=True) == [
        "cluster.ascii:9: warning: MEMBER_TIMEOUT 5s with one heartbeat network per node: a "
        "short network glitch re-forms the cluster (Serviceguard requires 14s); add a second "
        "HEARTBEAT_IP or raise MEMBER_TIMEOUT"
    ]
    assert messages(check(PAIR + "MEMBER_TIMEOUT 90s\n"), warnings=True) == [
        "cluster.ascii:9: warning: MEMBER_TIMEOUT 90s: a failed node is noticed only after "
        "that long (and failover takes longer still)"
    ]


def test_four_nodes_without_quorum_server_is_a_warning() -> None:
    four = THREE_NODES + "NODE_NAME d\n  NETWORK_INTERFACE eth0\n    HEARTBEAT_IP 198.18.0.4/24\n"
    result = check(four)
    assert result.ok
    assert "4 nodes and no quorum server" in messages(result, warnings=True)[0]


def test_bare_subnets_take_their_prefix_from_the_nodes() -> None:
    pkg = "package_name p\nnode_name *\nip_subnet 198.18.1.0\nip_address 198.18.1.255\n"
    assert messages(check(THREE_NODES, pkg)) == [
        "pkg1.conf:4: IP_ADDRESS 198.18.1.255 is the broadcast address of 198.18.1.0/24"
    ]
    pkg = (
        "package_name p\nnode_name a\nmonitored_subnet 198.18.1.0\nmonitored_subnet 198.18.0.0/24\n"
    )
    assert check(THREE_NODES, pkg).ok


def test_package_warnings() -> None:
    pkg = """
    package_name p
    node_name a
    halt_script_timeout 10
    service_name s
    service_cmd /bin/s
    service_restart unlimited
    service_fail_fast_enabled yes
    service_halt_timeout 20
    fs_name /dev/vg/one
    fs_directory /data
    """
    other = "package_name q\nnode_name b\nfs_name /dev/vg2/x\nfs_directory /data/q\n"
    result = check(THREE_NODES + "WATCHDOG_DEVICE /dev/watchdog\n", pkg, other)
    assert result.ok
    assert messages(result, warnings=True) == [
        "pkg1.conf:3: warning: HALT_SCRIPT_TIMEOUT 10s is not longer than the services' "
        "SERVICE_HALT_TIMEOUTs together (20s)",
        "pkg1.conf:7: warning: service s restarts without limit, so it never fails for good "
        "and SERVICE_FAIL_FAST_ENABLED never resets the node",
        "pkg2.conf:4: warning: FS_DIRECTORY /data/q is inside /data of package p "
        "(pkg1.conf:10): they cannot move independently",
    ]


def test_volume_groups_listed_in_the_cluster_restrict_packages() -> None:
    cluster = THREE_NODES + "VOLUME_GROUP vg01\n"
    assert check(cluster, "package_name p\nnode_name a\nvg /dev/vg01\n").ok
    assert messages(check(cluster, "package_name p\nnode_name a\nvg vg02\n")) == [
        "pkg1.conf:3: VG vg02 is not among the cluster's VOLUME_GROUPs (vg01)"
    ]


def test_dependency_rules() -> None:
    mn = "package_name m\npackage_type multi_node\nnode_name *\n"
    fo = "package_name f\nnode_name c\n"
    dep = "dependency_name d\ndependency_condition {} = UP\n"
    assert messages(check(THREE_NODES, mn + dep.format("f"), fo)) == [
        "pkg1.conf:5: DEPENDENCY_CONDITION f = UP: multi_node package m can depend only on "
        "multi_node packages, and f is a failover package"
    ]
    same_node = "package_name g\nnode_name a\n" + dep.format("f")
    assert messages(check(THREE_NODES, same_node, fo)) == [
        "pkg1.conf:4: DEPENDENCY_CONDITION f = UP on the same node can never hold: g and f "
        "share no NODE_NAME"
    ]


def test_files_given_join_the_applied_configuration() -> None:
    applied = config(THREE_NODES, "package_name one\nnode_name a\nvg vg01\n")
    # a package file alone is checked against the applied cluster and packages
    result = check(None, "package_name two\nnode_name b\nvg vg01\n", applied=applied)
    assert [m.split(";")[0] for m in messages(result)] == [
        "pkg1.conf:3: VG vg01 already belongs to package one (pkg1.conf:3)"
    ]
    # replacing a package by name is not a conflict with its old self
    replaced = check(None, "package_name one\nnode_name b\nvg vg01\n", applied=applied)
    assert replaced.config is not None
    assert [p.node_names for p in replaced.config.packages] == [("b",)]
    # a cluster change must still suit the packages already applied
    head, rest = THREE_NODES.split("NODE_NAME a")
    shrunk = head + "QS_HOST qs\nNODE_NAME b" + rest.split("NODE_NAME b")[1]
    assert messages(check(shrunk, applied=applied)) == [
        "pkg1.conf:2: NODE_NAME a is not a node of cluster c1 (nodes: b, c)"
    ]
    assert messages(check(None)) == ["no cluster configuration: give the cluster file (-C)"]
