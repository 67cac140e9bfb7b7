"""FAILURE_TIMEOUT in a package file: read in seconds, bounded, failover packages only,
and carried into the placement layout in nanoseconds (absent: never expires)."""

from cluster.daemon.layout import layout_of

from .helpers import THREE_NODES, check, config, messages

PACKAGE = "PACKAGE_NAME web\nNODE_NAME a\nNODE_NAME b\n"


def test_failure_timeout_reaches_the_layout() -> None:
    cfg = config(THREE_NODES, PACKAGE + "FAILURE_TIMEOUT 600\n")
    (package,) = cfg.packages
    assert package.failure_timeout_us == 600_000_000
    layout = layout_of(cfg, 1)
    assert layout is not None and layout.failure_timeout == {"web": 600 * 10**9}
    plain = layout_of(config(THREE_NODES, PACKAGE), 1)
    assert plain is not None and plain.failure_timeout == {}


def test_bad_failure_timeouts_are_named_by_line() -> None:
    found = messages(check(THREE_NODES, PACKAGE + "FAILURE_TIMEOUT soon\n"))
    assert any("pkg1.conf:4:" in m and "FAILURE_TIMEOUT" in m for m in found), found
    multi = "PACKAGE_NAME m\nPACKAGE_TYPE multi_node\nNODE_NAME a\nFAILURE_TIMEOUT 60\n"
    found = messages(check(THREE_NODES, multi))
    assert any(
        "pkg1.conf:4: FAILURE_TIMEOUT 60 applies to failover packages only" in m for m in found
    ), found
