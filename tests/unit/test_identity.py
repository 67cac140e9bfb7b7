import pytest

from cluster.security.identity import (
    Identity,
    IdentityError,
    Kind,
    Role,
    identity_from_uris,
    node_uri,
    quorum_server_uri,
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


@pytest.mark.parametrize(
    "uris",
    [
        ["urn:cmcluster:node:n1\x00.evil"],
        [node_uri("n1\n")],
        [node_uri("")],
        [node_uri("n 1")],
        [node_uri("../n1")],
        [quorum_server_uri("qs\x00")],
        [quorum_server_uri("../qs")],
        [user_uri("bob\nFAKE LOG LINE"), role_uri(Role.MONITOR)],
        [user_uri(""), role_uri(Role.MONITOR)],
        [user_uri("a..b"), role_uri(Role.MONITOR)],
        [user_uri("bob"), "urn:cmcluster:role:monitor\n"],
        [user_uri("bob"), "urn:cmcluster:role:MONITOR"],
        ["urn:cmcluster:admin:n1"],
        ["urn:cmcluster:node"],
    ],
)
def test_names_the_validator_refuses_are_refused(uris: list[str]) -> None:
    with pytest.raises(IdentityError) as caught:
        identity_from_uris(uris)
    message = str(caught.value)
    assert "\n" not in message and "\x00" not in message


def test_refusal_quotes_only_a_prefix_of_a_huge_name() -> None:
    with pytest.raises(IdentityError) as caught:
        identity_from_uris([node_uri("n" * 100_000)])
    assert len(str(caught.value)) < 300
    assert "(100000 characters)" in str(caught.value)


def test_many_uris_are_refused_without_listing_them() -> None:
    with pytest.raises(IdentityError, match="more than 16 URI names"):
        identity_from_uris([node_uri(f"n{i}") for i in range(10_000)])
    with pytest.raises(IdentityError) as caught:
        identity_from_uris([node_uri(f"n{i}") for i in range(10)])
    assert len(str(caught.value)) < 200


def test_quorum_server_identity() -> None:
    assert identity_from_uris([quorum_server_uri("qs1")]) == Identity(Kind.QUORUM_SERVER, "qs1")
