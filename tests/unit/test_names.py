import pytest

from cluster.names import (
    cluster_name_problem,
    node_name_problem,
    object_name_problem,
    quorum_server_name_problem,
    shown,
    user_name_problem,
)


@pytest.mark.parametrize("name", ["n1", "node-1", "A", "x" * 39, "njzx11"])
def test_valid_node_names(name: str) -> None:
    assert node_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "-a", "a-", "a_b", "a.b", "x" * 40, "nödé", "a b"])
def test_invalid_node_names(name: str) -> None:
    problem = node_name_problem(name)
    assert problem is not None and repr(name) in problem


def test_user_and_cluster_names() -> None:
    assert user_name_problem("john.smith") is None
    assert user_name_problem("9lives") is not None
    assert cluster_name_problem("zxcluster") is None
    assert cluster_name_problem("bad name") is not None


ALL_KINDS = {
    "node": node_name_problem,
    "quorum server": quorum_server_name_problem,
    "user": user_name_problem,
    "cluster": cluster_name_problem,
    "package": object_name_problem,
}
HOSTILE = [
    "",
    "n1\n",
    "n1\x00.evil",
    "\nn1",
    "n1\r",
    "n\x7f1",
    "a b",
    " n1",
    "a/b",
    "a..b",
    "..",
    "../etc",
]


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_for_every_kind(kind: str, name: str) -> None:
    problem = ALL_KINDS[kind](name)
    assert problem is not None
    assert problem.startswith(f"invalid {kind} name {name!r}: ")
    assert "\n" not in problem and "\x00" not in problem


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("n1\n", "holds a control character"),
        ("n1\x00x", "holds a control character"),
        ("a..b", "holds '..'"),
    ],
)
def test_the_reason_comes_first(name: str, reason: str) -> None:
    problem = user_name_problem(name)
    assert problem is not None and f": {reason}; use up to 32" in problem


def test_a_trailing_newline_is_not_a_valid_end() -> None:
    # re.match with '$' accepted these: '$' matches before a final newline.
    assert node_name_problem("n1\n") is not None
    assert object_name_problem("pkg1\n", "service") is not None
    assert cluster_name_problem("prod\n") is not None


def test_long_input_is_echoed_as_a_short_prefix() -> None:
    name = "x" * 1_000_000
    for check in ALL_KINDS.values():
        problem = check(name)
        assert problem is not None
        assert len(problem) < 300
        assert f"{'x' * 40!r}... (1000000 characters)" in problem


def test_shown_quotes_short_text_whole() -> None:
    assert shown("n1\n") == "'n1\\n'"
    assert shown("y" * 41) == f"{'y' * 40!r}... (41 characters)"


def test_valid_names_of_other_kinds() -> None:
    assert quorum_server_name_problem("qs-1") is None
    assert object_name_problem("pkg_1.web", "service") is None
    assert user_name_problem("_svc") is None
    assert cluster_name_problem("prod.cluster") is None
