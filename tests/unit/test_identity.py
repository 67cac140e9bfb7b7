import pytest

from cluster.security.identity import (
    Identity,
    IdentityError,
    Kind,
    Role,
    identity_from_uris,
    node_uri,
    role_uri,
    user_uri,
)


def test_node_identity() -> None:
    assert identity_from_uris([node_uri("n1")]) == Identity(Kind.NODE, "n1")


def test_user_identity_with_role() -> None:
    uris = [user_uri("bob"), role_uri(Role.PACKAGE_ADMIN), "https://example.org/"]
    assert identity_from_uris(uris) == Identity(Kind.USER, "bob", Role.PACKAGE_ADMIN)


@pytest.mark.parametrize(
    "uris",
    [
        [],
        [node_uri("a"), node_uri("b")],
        [node_uri("a"), user_uri("b"), role_uri(Role.MONITOR)],
        [node_uri("a"), role_uri(Role.FULL_ADMIN)],
        [user_uri("b")],
        [user_uri("b"), role_uri(Role.MONITOR), role_uri(Role.FULL_ADMIN)],
        [user_uri("b"), "urn:cmcluster:role:superuser"],
    ],
)
def test_ambiguous_or_incomplete_identities_are_refused(uris: list[str]) -> None:
    with pytest.raises(IdentityError):
        identity_from_uris(uris)


def test_roles_are_ordered() -> None:
    assert Role.MONITOR < Role.PACKAGE_ADMIN < Role.FULL_ADMIN
    full = Identity(Kind.USER, "x", Role.FULL_ADMIN)
    assert full.may_operate(Role.MONITOR)
    assert not Identity(Kind.NODE, "n").may_operate(Role.MONITOR)


def test_role_parse_is_clear() -> None:
    assert Role.parse(" Package_Admin ") is Role.PACKAGE_ADMIN
    with pytest.raises(ValueError, match="choose from monitor, package_admin, full_admin"):
        Role.parse("admin")
