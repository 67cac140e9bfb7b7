"""The value rule against a deliberately naive reference: every subset, checked."""

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.clique import largest_connected


def naive(
    hears: dict[str, frozenset[str]], prefer: str, keep: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    names = sorted(hears)

    def connected(group: tuple[str, ...]) -> bool:
        return all(b in hears[a] and a in hears[b] for a, b in combinations(group, 2))

    for size in range(len(names), 0, -1):
        groups = [g for g in combinations(names, size) if connected(g)]
        if groups:
            groups = [g for g in groups if prefer in g] or groups
            most = max(len(keep.intersection(g)) for g in groups)
            return min(g for g in groups if len(keep.intersection(g)) == most)
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


def test_a_joiner_does_not_displace_a_member() -> None:
    """Members b, c (coordinator b) and a joiner a that hears b but not c yet: the two
    sets of two tie, and the one keeping both members wins over the lower names."""
    hears = {"a": frozenset("ab"), "b": frozenset("abc"), "c": frozenset("bc")}
    assert largest_connected(hears, prefer="b", keep=frozenset("bc")) == ("b", "c")
    assert largest_connected(hears, prefer="b") == ("a", "b")


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
            st.lists(st.booleans(), min_size=n, max_size=n),
        )
    )
)
def test_matches_the_naive_reference(case: tuple[int, list[bool], int, list[bool]]) -> None:
    n, bits, p, kept = case
    names = [f"n{i}" for i in range(n)]
    hears = {
        a: frozenset([a] + [b for j, b in enumerate(names) if bits[i * n + j]])
        for i, a in enumerate(names)
    }
    prefer = names[p] if p < n else ""
    keep = frozenset(name for name, k in zip(names, kept, strict=True) if k)
    assert largest_connected(hears, prefer, keep) == naive(hears, prefer, keep)


def test_sixty_four_nodes_in_two_halves_is_fast() -> None:
    nodes = [f"n{i:02d}" for i in range(64)]
    left, right = frozenset(nodes[:32]), frozenset(nodes[32:])
    hears = {n: left if n in left else right for n in nodes}
    assert largest_connected(hears, prefer="n40") == tuple(sorted(right))
