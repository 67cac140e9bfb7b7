"""The value rule against a deliberately naive reference: every subset, checked."""

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.clique import largest_connected


def naive(hears: dict[str, frozenset[str]], prefer: str) -> tuple[str, ...]:
    names = sorted(hears)

    def connected(group: tuple[str, ...]) -> bool:
        return all(b in hears[a] and a in hears[b] for a, b in combinations(group, 2))

    for size in range(len(names), 0, -1):
        groups = [g for g in combinations(names, size) if connected(g)]
        if groups:
            with_prefer = [g for g in groups if prefer in g]
            return min(with_prefer or groups)
    return ()


def full(nodes: str) -> dict[str, frozenset[str]]:
    return {n: frozenset(nodes) for n in nodes}


def test_everyone_hears_everyone() -> None:
    assert largest_connected(full("abcd")) == tuple("abcd")


def test_split_prefers_the_coordinator_then_lower_names() -> None:
    hears = {n: frozenset("ab") for n in "ab"} | {n: frozenset("cd") for n in "cd"}
    assert largest_connected(hears, prefer="c") == ("c", "d")
    assert largest_connected(hears) == ("a", "b")


def test_larger_side_wins_over_the_coordinator() -> None:
    hears = {"a": frozenset("ab"), "b": frozenset("ab")} | {n: frozenset("cde") for n in "cde"}
    assert largest_connected(hears, prefer="a") == ("c", "d", "e")


def test_one_way_hearing_is_no_connection() -> None:
    hears = {"a": frozenset("ab"), "b": frozenset("b")}
    assert largest_connected(hears, prefer="a") == ("a",)


def test_non_transitive() -> None:
    hears = {"a": frozenset("ab"), "b": frozenset("abc"), "c": frozenset("bc")}
    assert largest_connected(hears, prefer="c") == ("b", "c")
    assert largest_connected(hears) == ("a", "b")


def test_empty() -> None:
    assert largest_connected({}) == ()


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=9).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.booleans(), min_size=n * n, max_size=n * n),
            st.integers(min_value=0, max_value=n),
        )
    )
)
def test_matches_the_naive_reference(case: tuple[int, list[bool], int]) -> None:
    n, bits, p = case
    names = [f"n{i}" for i in range(n)]
    hears = {
        a: frozenset([a] + [b for j, b in enumerate(names) if bits[i * n + j]])
        for i, a in enumerate(names)
    }
    prefer = names[p] if p < n else ""
    assert largest_connected(hears, prefer) == naive(hears, prefer)


def test_sixty_four_nodes_in_two_halves_is_fast() -> None:
    nodes = [f"n{i:02d}" for i in range(64)]
    left, right = frozenset(nodes[:32]), frozenset(nodes[32:])
    hears = {n: left if n in left else right for n in nodes}
    assert largest_connected(hears, prefer="n40") == tuple(sorted(right))
