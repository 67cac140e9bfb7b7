"""Hostile configuration texts: the check stays linear and its answer stays short."""

import time

import pytest

from cluster.config.check import MAX_CHECK_LINES
from cluster.config.problems import (
    MAX_PROBLEMS,
    ConfigError,
    Problem,
    Problems,
    display_order,
    omitted_counts,
)
from cluster.hostfiles import MAX_CONFIG_FILE

from .helpers import THREE_NODES, check, dedent

REPEATS = 100_000
PACKAGE = "package_name p\nnode_name a\n"

# (cluster text, package text): one keyword repeated REPEATS times, as the checker sees
# each kind of repeat: a keyword given twice, one value given twice, an unknown keyword,
# and a repeatable keyword with a new value every time.
CASES = {
    "CLUSTER_NAME again": (THREE_NODES + "CLUSTER_NAME c1\n" * REPEATS, None),
    "node_name again": (THREE_NODES, PACKAGE + "node_name b\n" * REPEATS),
    "unknown keyword": (THREE_NODES + "NO_SUCH_KEYWORD 1\n" * REPEATS, None),
    "VOLUME_GROUP values": (
        THREE_NODES + "".join(f"VOLUME_GROUP vg{i}\n" for i in range(REPEATS)),
        None,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_100000_repeated_keywords_are_checked_in_under_2_seconds(case: str) -> None:
    """Each repeat used to be compared with every earlier line (cmcld spent minutes).
    CPU time of this process, so that other work on the machine does not count; the
    best of three tries, since a busy neighbour on a shared core still slows it (seen:
    1.2 s on an idle machine, 2.07 s once in CI)."""
    cluster, package = CASES[case]
    tries = []
    for _ in range(3):
        start = time.process_time()
        result = check(cluster, *([package] if package else []))
        tries.append(time.process_time() - start)
        if tries[-1] < 2.0:
            break
    assert min(tries) < 2.0, f"{case}: {', '.join(f'{t:.2f}' for t in tries)} s"
    assert len(result.problems) <= MAX_PROBLEMS + 1


def test_a_repeated_keyword_is_reported_100_times_then_counted() -> None:
    result = check(THREE_NODES + "CLUSTER_NAME c1\n" * 1000)
    assert result.config is None
    assert len(result.problems) == MAX_PROBLEMS + 1
    first, last = result.problems[0], result.problems[-1]
    assert str(first) == "cluster.ascii:17: CLUSTER_NAME given twice (first on line 1)"
    assert str(last) == "... and 900 more problems (900 errors) not shown"
    assert omitted_counts(last) == (900, 900)
    assert omitted_counts(first) is None


def test_repeated_values_of_a_unique_keyword_are_refused_once_each() -> None:
    result = check(THREE_NODES, PACKAGE + "node_name b\nnode_name a\nnode_name b\n")
    assert [str(p) for p in result.errors] == [
        "pkg1.conf:4: NODE_NAME a given twice (first on line 2)",
        "pkg1.conf:5: NODE_NAME b given twice (first on line 3)",
    ]


def test_the_cap_keeps_errors_before_warnings_and_counts_everything() -> None:
    problems = Problems(limit=3)
    for line in range(1, 6):
        problems.warn("f", line, "w")
    problems.error("f", 9, "e")
    problems.error("f", 9, "e")  # the same finding twice counts once
    assert problems.has_errors() and problems.error_count == 1
    shown = list(problems)
    assert [str(p) for p in shown] == [
        "f:9: e",
        "f:1: warning: w",
        "f:2: warning: w",
        "warning: ... and 3 more problems (0 errors) not shown",
    ]
    assert shown[-1].warning  # only warnings were left out
    assert len(problems) == 4
    with pytest.raises(ConfigError) as caught:
        problems.raise_if_errors()
    last = str(caught.value).splitlines()[-1]
    assert last == "warning: ... and 3 more problems (0 errors) not shown"


def test_the_omitted_line_sorts_last_and_stays_an_error() -> None:
    problems = Problems(limit=1)
    problems.error("b", 2, "x")
    problems.error("a", 1, "y")
    ordered = sorted(problems, key=display_order)
    assert [str(p) for p in ordered] == ["b:2: x", "... and 1 more problem (1 error) not shown"]
    assert not ordered[-1].warning
    assert omitted_counts(Problem("f", 1, ordered[-1].message)) is None  # it has no file


def test_texts_too_large_to_check_are_refused_before_parsing() -> None:
    """cmcld checks what a client sends: it does not rely on the command's own limits."""
    big = ("#" * 1023 + "\n") * (MAX_CONFIG_FILE // 1024 + 1)
    result = check(big)
    assert [str(p) for p in result.problems] == [
        "cluster.ascii: larger than the 16 MiB a file may have"
    ]
    many = "#\n" * (MAX_CHECK_LINES // 2)
    result = check(THREE_NODES + many, PACKAGE + many)
    lines = sum(dedent(t).count("\n") + 1 for t in (THREE_NODES + many, PACKAGE + many))
    assert [str(p) for p in result.problems] == [
        f"{lines} lines: more than the {MAX_CHECK_LINES} one check reads (all files)"
    ]
