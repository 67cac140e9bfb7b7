import pytest

from cluster.names import cluster_name_problem, node_name_problem, user_name_problem


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
