"""The authorization table: every RPC x every identity class -> the expected outcome.

The expected class of each RPC is written here, by hand, so a change to the proto's
declarations shows up as a failing test to review, not as a silent widening.
"""

import itertools

import pytest

from cluster.security.access import AccessRules, Policy, Where
from cluster.security.authorization import (
    DEFAULT_MAX_REQUEST,
    CallerClass,
    Refused,
    Rule,
    Standing,
    Verdict,
    admit,
)
from cluster.security.identity import Identity, Kind, Role, local_root
from cluster.transport.auth import identify, rules

M, OP, CO, INV, QC = (
    CallerClass.MEMBER,
    CallerClass.OPERATOR,
    CallerClass.COORDINATOR,
    CallerClass.INVITER,
    CallerClass.QUORUM_CLIENT,
)
EXPECTED: dict[str, tuple[CallerClass, Role | None]] = {
    "Node/GetNodeInfo": (INV, None),
    "Node/Heartbeat": (M, None),
    "Node/NodeCommand": (M, None),
    "Node/StageConfig": (INV, None),
    "Node/CommitConfig": (INV, None),
    "Node/AbortConfig": (INV, None),
    "Node/FetchConfig": (M, None),
    "Node/CheckFiles": (INV, None),
    "Node/ExecutePackageAction": (CO, None),
    "Node/ReportPackage": (M, None),
    "Node/GetPackages": (M, None),
    "Node/SetPackageFlags": (CO, None),
    "Node/PackageCommand": (M, None),
    "Node/ReadLog": (M, None),
    "Admin/GetNodeInfo": (OP, Role.MONITOR),
    "Admin/QueryNodes": (OP, Role.MONITOR),
    "Admin/ViewCluster": (OP, Role.MONITOR),
    "Admin/GetConfig": (OP, Role.MONITOR),
    "Admin/ReadLog": (OP, Role.MONITOR),
    "Admin/Evaluate": (OP, Role.MONITOR),
    "Admin/CheckConfig": (OP, Role.FULL_ADMIN),
    "Admin/ApplyConfig": (OP, Role.FULL_ADMIN),
    "Admin/DeleteConfig": (OP, Role.FULL_ADMIN),
    "Admin/RunCluster": (OP, Role.FULL_ADMIN),
    "Admin/HaltCluster": (OP, Role.FULL_ADMIN),
    "Admin/RunNode": (OP, Role.FULL_ADMIN),
    "Admin/HaltNode": (OP, Role.FULL_ADMIN),
    "Admin/RunPackage": (OP, Role.PACKAGE_ADMIN),
    "Admin/HaltPackage": (OP, Role.PACKAGE_ADMIN),
    "Admin/ModifyPackage": (OP, Role.PACKAGE_ADMIN),
    "Admin/SetLogLevel": (OP, Role.FULL_ADMIN),
    "Quorum/Exchange": (QC, None),
}
RULES = {rule.method: rule for rule in rules().values()}
_LOCAL = Where(None)
_TCP = Where("198.18.0.9")

# The identity classes, as the receiver node "b" of cluster {a, b, c} sees them in
# epoch 7 coordinated by "a".
CONFIGURED = Standing(frozenset({"a", "b", "c"}), generation=3, epoch=7, coordinator="a")
UNCONFIGURED = Standing(None)
IDENTITIES = {
    "coordinator": Identity(Kind.NODE, "a"),
    "member": Identity(Kind.NODE, "c"),
    "outsider node": Identity(Kind.NODE, "zz"),
    "quorum server": Identity(Kind.QUORUM_SERVER, "qs"),
    "monitor": Identity(Kind.USER, "mon", Role.MONITOR),
    "package admin": Identity(Kind.USER, "pa", Role.PACKAGE_ADMIN),
    "full admin": Identity(Kind.USER, "fa", Role.FULL_ADMIN),
    "root": local_root("b"),
    "admin group user": Identity(Kind.LOCAL_USER, "ops"),
}
NODE_OUTCOMES: dict[tuple[CallerClass, str], str] = {
    # (class, identity) -> outcome on a configured node; the rest are denied
    (M, "coordinator"): "ok",
    (M, "member"): "ok",
    (CO, "coordinator"): "ok",
    (CO, "member"): "not now",
    (INV, "coordinator"): "ok",
    (INV, "member"): "ok",
    (QC, "coordinator"): "ok",
    (QC, "member"): "ok",
    (QC, "outsider node"): "ok",  # cmqsd checks the cluster's configured nodes
}


def test_every_rpc_is_in_the_expected_table() -> None:
    assert {m: (r.caller, r.role) for m, r in RULES.items()} == EXPECTED


def test_large_requests_are_declared_where_needed() -> None:
    big = {m: r.max_request_bytes for m, r in RULES.items() if r.max_request_bytes > 64 << 10}
    assert set(big) == {
        "Node/Heartbeat",
        "Node/StageConfig",
        "Node/CheckFiles",
        "Node/ReportPackage",
        "Node/SetPackageFlags",
        "Admin/CheckConfig",
        "Admin/ApplyConfig",
        "Admin/Evaluate",
        "Node/PackageCommand",
    }
    assert all(size <= 32 << 20 for size in big.values())
    packages = {m for m, r in RULES.items() if r.package_field}
    assert packages == {"Admin/RunPackage", "Admin/HaltPackage", "Admin/ModifyPackage"}


def _outcome(rule: Rule, identity: Identity, standing: Standing, role: Role | None) -> str:
    try:
        admit(rule, identity, standing, role)
    except Refused as refused:
        return refused.verdict.value
    return "ok"


def _role(identity: Identity) -> Role | None:
    local = identity.kind in (Kind.LOCAL_ROOT, Kind.LOCAL_USER)
    return AccessRules("b").role(identity, _LOCAL if local else _TCP)


@pytest.mark.parametrize(
    ("method", "who"), list(itertools.product(sorted(EXPECTED), sorted(IDENTITIES)))
)
def test_every_rpc_by_every_identity_on_a_configured_node(method: str, who: str) -> None:
    rule, identity = RULES[method], IDENTITIES[who]
    caller, needed = EXPECTED[method]
    got = _outcome(rule, identity, CONFIGURED, _role(identity))
    if caller is OP:
        operators = {
            "monitor": Role.MONITOR,
            "package admin": Role.PACKAGE_ADMIN,
            "full admin": Role.FULL_ADMIN,
            "root": Role.FULL_ADMIN,
            "admin group user": Role.MONITOR,  # no policy configured: monitor
        }
        assert needed is not None
        expected = "ok" if who in operators and operators[who] >= needed else "denied"
    else:
        expected = NODE_OUTCOMES.get((caller, who), "denied")
    assert got == expected


@pytest.mark.parametrize("method", sorted(m for m, (c, _) in EXPECTED.items() if c is not OP))
def test_a_node_with_no_configuration_admits_only_inviters(method: str) -> None:
    caller, _ = EXPECTED[method]
    got = _outcome(RULES[method], IDENTITIES["outsider node"], UNCONFIGURED, None)
    assert got == ("ok" if caller in (INV, QC) else "denied")
    user = _outcome(RULES[method], IDENTITIES["full admin"], UNCONFIGURED, Role.FULL_ADMIN)
    assert user == "denied"


def test_refusals_say_why() -> None:
    with pytest.raises(Refused, match="zz is not a node of this cluster's configuration"):
        admit(RULES["Node/StageConfig"], IDENTITIES["outsider node"], CONFIGURED)
    with pytest.raises(Refused, match="coordinator of epoch 7 here is a") as refused:
        admit(RULES["Node/SetPackageFlags"], IDENTITIES["member"], CONFIGURED)
    assert refused.value.verdict is Verdict.NOT_NOW
    with pytest.raises(Refused, match="user mon has role monitor; Admin/RunPackage needs"):
        admit(RULES["Admin/RunPackage"], IDENTITIES["monitor"], CONFIGURED, Role.MONITOR)
    with pytest.raises(Refused, match="no role here"):
        admit(RULES["Admin/ViewCluster"], IDENTITIES["monitor"], CONFIGURED, None)


def test_undeclared_rpc_is_refused() -> None:
    with pytest.raises(Refused, match="declares no callers"):
        admit(Rule("X/Y", None, None, DEFAULT_MAX_REQUEST), local_root("b"), CONFIGURED, None)


def test_a_monitor_policy_makes_a_full_admin_certificate_read_only() -> None:
    access = AccessRules("b", (Policy(("fa",), "ANY_SERVICEGUARD_NODE", Role.MONITOR),))
    role = access.role(IDENTITIES["full admin"], _TCP)
    assert role is Role.MONITOR
    assert _outcome(RULES["Admin/ViewCluster"], IDENTITIES["full admin"], CONFIGURED, role) == "ok"
    denied = _outcome(RULES["Admin/HaltCluster"], IDENTITIES["full admin"], CONFIGURED, role)
    assert denied == "denied"
    with pytest.raises(Refused, match="role monitor here \\(its certificate says full_admin\\)"):
        admit(RULES["Admin/HaltCluster"], IDENTITIES["full admin"], CONFIGURED, role)


def test_identify_local_connection_needs_the_front_door() -> None:
    class Door:
        def identity(self, peer: str) -> Identity | None:
            return local_root("b") if peer == "unix:/run/.grpc/c1" else None

    local = {"transport_security_type": [b"local"]}
    assert identify(local, "unix:/run/.grpc/c1", None, Door()) == local_root("b")
    with pytest.raises(Refused) as refused:
        identify(local, "unix:", None, Door())
    assert refused.value.verdict is Verdict.UNAUTHENTICATED
    with pytest.raises(Refused):
        identify(local, "unix:/run/.grpc/c1", None, None)


def test_identify_certificate_uris() -> None:
    context = {
        "transport_security_type": [b"ssl"],
        "peer_uri": [b"urn:cmcluster:user:mon", b"urn:cmcluster:role:monitor"],
    }
    assert identify(context, "ipv4:198.18.0.1:1", None, None) == IDENTITIES["monitor"]


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"transport_security_type": [b"insecure"]},
        {"transport_security_type": [b"ssl"], "peer_uri": []},
        {"transport_security_type": [b"ssl"], "peer_uri": [b"urn:cmcluster:user:x"]},
    ],
)
def test_identify_refuses_unauthenticated(context: dict[str, list[bytes]]) -> None:
    with pytest.raises(Refused) as refused:
        identify(context, "ipv4:198.18.0.1:1", None, None)
    assert refused.value.verdict is Verdict.UNAUTHENTICATED


def test_unknown_enum_values_are_found_wherever_they_are() -> None:
    from cluster.pb.v1 import admin_pb2, package_pb2
    from cluster.transport.fields import unknown_enum

    assert (
        unknown_enum(admin_pb2.NodeCommandRequest(kind=admin_pb2.NodeCommandRequest.KIND_RUN_NODE))
        is None
    )
    assert unknown_enum(admin_pb2.NodeCommandRequest(kind=99)) == "kind"  # type: ignore[arg-type]
    action = package_pb2.PackageActionReply()
    action.report.state = 77  # type: ignore[assignment]
    assert unknown_enum(action) == "report.state"
    relayed = package_pb2.PackageCommandRequest()
    relayed.modify.maintenance = 5  # type: ignore[assignment]
    assert unknown_enum(relayed) == "modify.maintenance"
