"""Parsing into located entries: blocks, defaults, and the messages of mistakes."""

from cluster.config.build import build_cluster, build_package
from cluster.config.documents import cluster_document, package_document
from cluster.config.model import Package
from cluster.config.params_cluster import CLUSTER_SCHEMA
from cluster.config.params_package import PACKAGE_SCHEMA
from cluster.config.problems import Problems
from cluster.config.source import PackageSource, Source

from .helpers import THREE_NODES, check, dedent, messages


def package(text: str) -> tuple[list[str], Package]:
    problems = Problems()
    document = package_document(PackageSource("p.conf", dedent(text)), problems)
    return [str(p) for p in problems], build_package(document)


def test_blocks_own_the_keywords_that_follow_them() -> None:
    problems = Problems()
    text = dedent(
        """
        cluster_name c1
        node_name a
        network_interface eth0
        heartbeat_ip 198.18.0.1/24
        network_interface eth1
        stationary_ip 198.18.1.1/24
        heartbeat_ip 198.18.2.1/24
        network_interface eth2
        node_name b
        network_interface eth0
        heartbeat_ip 198.18.0.2
        """
    )
    cluster = build_cluster(cluster_document(Source("c", text), problems))
    assert not problems.errors
    a, b = cluster.nodes
    assert [(i.name, i.heartbeat_ips, i.stationary_ips) for i in a.interfaces] == [
        ("eth0", ("198.18.0.1/24",), ()),
        ("eth1", ("198.18.2.1/24",), ("198.18.1.1/24",)),
        ("eth2", (), ()),
    ]
    assert a.interfaces[2].standby
    assert b.heartbeat_ips == ("198.18.0.2",)
    assert a.interfaces[1].origin.where("HEARTBEAT_IP") == ("c", 7)


def test_times_in_microseconds_or_with_a_unit() -> None:
    for value in ("14000000", "14s", "14000ms", "14 s"):
        result = check(THREE_NODES + f"MEMBER_TIMEOUT {value}\n")
        assert result.config is not None
        assert result.config.cluster.member_timeout_us == 14_000_000
        assert result.config.cluster.heartbeat_interval_us == 1_000_000
    small = check(THREE_NODES + "MEMBER_TIMEOUT 2s\n").raise_if_errors()
    assert small.cluster.heartbeat_interval_us == 200_000


def test_package_times_are_seconds_and_special_words_are_kept() -> None:
    problems, pkg = package(
        """
        package_name p
        node_name a
        run_script_timeout 60
        halt_script_timeout NO_TIMEOUT
        successor_halt_timeout 0
        priority no_priority
        """
    )
    assert problems == []
    assert (pkg.run_script_timeout_us, pkg.halt_script_timeout_us) == (60_000_000, None)
    assert pkg.successor_halt_timeout_us == 0
    assert pkg.priority is None


def test_defaults_are_filled_in_and_multi_node_gets_no_failover_policy() -> None:
    problems = Problems()
    doc = package_document(PackageSource("p", "package_name p\nnode_name *\n"), problems)
    assert [e.keyword for e in doc.entries][:4] == [
        "PACKAGE_NAME",
        "PACKAGE_TYPE",
        "NODE_NAME",
        "AUTO_RUN",
    ]
    assert doc.first("FAILOVER_POLICY") is not None
    doc = package_document(
        PackageSource("p", "package_name p\npackage_type multi_node\nnode_name *\n"), problems
    )
    assert doc.first("FAILOVER_POLICY") is None and doc.first("PRIORITY") is None
    assert not problems.errors


def test_unknown_keywords_get_a_suggestion_in_the_file_s_spelling() -> None:
    errors, _ = package("package_name p\nnode_name a\nservce_name x\nfrobnicate 1\n")
    assert errors == [
        "p.conf:3: unknown keyword servce_name (did you mean service_name?)",
        "p.conf:4: unknown keyword frobnicate",
    ]


def test_ignored_serviceguard_keywords_warn_unless_pure_bookkeeping() -> None:
    problems, _ = package("module_name sg/basic\npackage_name p\nnode_name a\nlog_level 2\n")
    assert problems == [
        "p.conf:4: warning: log_level ignored: Serviceguard tuning knob; cmcluster's drivers "
        "use their own settings"
    ]


def test_one_bad_line_gives_one_message() -> None:
    # the bad block value does not also cause "must follow" for its children
    errors, _ = package("package_name p\nnode_name a\nservice_name bad/name\nservice_cmd /bin/x\n")
    assert len(errors) == 1 and errors[0].startswith("p.conf:3: service_name: invalid service name")
    # nor does a bad required value make it "missing"
    result = check('CLUSTER_NAME "unterminated\n' + THREE_NODES.replace("CLUSTER_NAME c1", ""))
    assert messages(result) == ['cluster.ascii:1: CLUSTER_NAME: unterminated quote (")']


def test_every_declared_keyword_and_alias_is_reachable() -> None:
    for schema in (CLUSTER_SCHEMA, PACKAGE_SCHEMA):
        for placement in schema.walk():
            param = placement.param
            for spelling in (param.keyword, *param.aliases):
                found = schema.find(spelling.lower())
                assert found is not None and found.param is param
            if not (param.unsupported or param.ignored):
                assert param.doc
                if param.default is not None:
                    assert param.type.parse(param.type.render(param.default)) == param.default
                if param.example:
                    param.type.parse(param.example)
