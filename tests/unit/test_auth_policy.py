"""The authorization policy: read from the proto, applied to identities."""

import grpc
import pytest

from cluster.pb.v1 import auth_pb2
from cluster.security.identity import Identity, Kind, Role, local_root
from cluster.transport.auth import Refusal, check, identify, method_policies

NODE = Identity(Kind.NODE, "node2")
MONITOR = Identity(Kind.USER, "mon", Role.MONITOR)
PKG_ADMIN = Identity(Kind.USER, "pa", Role.PACKAGE_ADMIN)
FULL = Identity(Kind.USER, "root", Role.FULL_ADMIN)
ROOT = local_root("node1")

POLICIES = method_policies()


def path(service: str, method: str) -> str:
    return f"/cluster.pb.v1.{service}/{method}"


def test_every_rpc_declares_its_callers() -> None:
    assert POLICIES, "no services found"
    for name, policy in POLICIES.items():
        assert policy.caller != auth_pb2.CALLER_UNSPECIFIED, name
        if policy.caller == auth_pb2.CALLER_OPERATOR:
            assert policy.role is not None, f"{name} declares no role"


def test_node_services_are_for_nodes_only() -> None:
    for name, policy in POLICIES.items():
        if name.startswith(("/cluster.pb.v1.Node/", "/cluster.pb.v1.Quorum/")):
            assert policy.caller == auth_pb2.CALLER_NODE, name
        else:
            assert policy.caller == auth_pb2.CALLER_OPERATOR, name


TABLE = [
    # (identity, method, allowed)
    (NODE, path("Node", "GetNodeInfo"), True),
    (NODE, path("Node", "Heartbeat"), True),
    (NODE, path("Admin", "GetNodeInfo"), False),
    (NODE, path("Admin", "SetLogLevel"), False),
    (MONITOR, path("Node", "GetNodeInfo"), False),
    (MONITOR, path("Admin", "ViewCluster"), True),
    (MONITOR, path("Admin", "QueryNodes"), True),
    (MONITOR, path("Admin", "RunPackage"), False),
    (MONITOR, path("Admin", "SetLogLevel"), False),
    (PKG_ADMIN, path("Admin", "RunPackage"), True),
    (PKG_ADMIN, path("Admin", "ModifyPackage"), True),
    (PKG_ADMIN, path("Admin", "HaltCluster"), False),
    (PKG_ADMIN, path("Admin", "ApplyConfig"), False),
    (FULL, path("Admin", "ApplyConfig"), True),
    (FULL, path("Admin", "HaltCluster"), True),
    (FULL, path("Node", "StageConfig"), False),
    (NODE, path("Quorum", "Exchange"), True),
    (MONITOR, path("Quorum", "Exchange"), False),
    (ROOT, path("Admin", "SetLogLevel"), True),
    (ROOT, path("Admin", "HaltCluster"), True),
    (ROOT, path("Node", "CommitConfig"), False),
]


@pytest.mark.parametrize(("identity", "method", "allowed"), TABLE)
def test_policy_table(identity: Identity, method: str, allowed: bool) -> None:
    if allowed:
        check(POLICIES[method], identity, method)
    else:
        with pytest.raises(Refusal) as refused:
            check(POLICIES[method], identity, method)
        assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_unknown_method_is_refused() -> None:
    with pytest.raises(Refusal):
        check(None, FULL, "/x.Y/Z")


def test_refusal_names_role_and_need() -> None:
    with pytest.raises(
        Refusal, match="user mon has role monitor; Admin/RunPackage needs package_admin"
    ):
        check(POLICIES[path("Admin", "RunPackage")], MONITOR, "")


def test_identify_local_socket_is_root() -> None:
    assert identify({"transport_security_type": [b"local"]}, "node1") == ROOT


def test_identify_certificate_uris() -> None:
    context = {
        "transport_security_type": [b"ssl"],
        "peer_uri": [b"urn:cmcluster:user:mon", b"urn:cmcluster:role:monitor"],
    }
    assert identify(context, "node1") == MONITOR


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
    with pytest.raises(Refusal) as refused:
        identify(context, "node1")
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
