"""The value rule: the largest set of nodes that all hear each other.

Two nodes are connected when each lists the other in the view it reported (a view is
already two-way evidence: "I hear you" means you answered a ping of mine). Among the
largest all-connected sets we prefer the one holding the current coordinator, then the
one keeping the most current members (a joiner that does not hear every member yet
must not displace one: that would cost the displaced member its lease and its
packages), then the one whose sorted node names come first, so every proposer given
the same views picks the same set.

Finding a largest clique is exponential in the worst case; Bron-Kerbosch with a pivot
is fast on the graphs partitions make (a few dense groups). A budget bounds the search
on adversarial graphs: past it we keep the best set found so far, which is still
all-connected, only perhaps not the largest.
"""

from collections.abc import Mapping

SEARCH_BUDGET = 50_000


def largest_connected(
    hears: Mapping[str, frozenset[str]],
    prefer: str = "",
    keep: frozenset[str] = frozenset(),
    budget: int = SEARCH_BUDGET,
) -> tuple[str, ...]:
    """The chosen all-connected subset of `hears`' keys, sorted."""
    names = sorted(hears)
    index = {n: i for i, n in enumerate(names)}
    adj = [0] * len(names)
    for a in names:
        for b in hears[a]:
            j = index.get(b)
            if j is not None and b != a and a in hears[b]:
                adj[index[a]] |= 1 << j
    prefer_bit = 1 << index[prefer] if prefer in index else 0
    keep_mask = sum(1 << index[n] for n in keep if n in index)

    def key(mask: int) -> tuple[int, int, int, tuple[int, ...]]:
        members = tuple(i for i in range(len(names)) if mask >> i & 1)
        kept = (mask & keep_mask).bit_count()
        return (-len(members), 0 if mask & prefer_bit else 1, -kept, members)

    best = 0
    best_key = key(0)
    calls = 0

    def expand(r: int, p: int, x: int) -> None:
        nonlocal best, best_key, calls
        calls += 1
        if calls > budget:
            return
        if p == 0 and x == 0:
            k = key(r)
            if k < best_key:
                best, best_key = r, k
            return
        if r.bit_count() + p.bit_count() < -best_key[0]:
            return  # cannot reach the size of the best set found
        if p == 0:
            return  # maximal only within x: some other branch reports the superset
        pivot_pool = p | x
        pivot = max(
            (i for i in range(len(names)) if pivot_pool >> i & 1),
            key=lambda i: (p & adj[i]).bit_count(),
        )
        candidates = p & ~adj[pivot]
        while candidates:
            low = candidates & -candidates
            v = low.bit_length() - 1
            expand(r | low, p & adj[v], x & adj[v])
            p &= ~low
            x |= low
            candidates &= ~low

    expand(0, (1 << len(names)) - 1, 0)
    return tuple(names[i] for i in range(len(names)) if best >> i & 1)
