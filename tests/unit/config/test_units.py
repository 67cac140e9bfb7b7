"""Times: Serviceguard's bare numbers and unit suffixes."""

import pytest

from cluster.config.units import (
    MICROSECOND,
    SECOND,
    format_duration,
    human_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "unit", "micros"),
    [
        ("14000000", MICROSECOND, 14_000_000),
        ("14s", MICROSECOND, 14_000_000),
        ("500ms", MICROSECOND, 500_000),
        ("2min", SECOND, 120_000_000),
        ("1.5s", SECOND, 1_500_000),
        ("60", SECOND, 60_000_000),
        ("1h", SECOND, 3_600_000_000),
        ("250 us", SECOND, 250),
        ("3S", SECOND, 3_000_000),
    ],
)
def test_parse(text: str, unit: int, micros: int) -> None:
    assert parse_duration(text, unit) == micros


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("fast", "is not a time"),
        ("5parsecs", "unknown time unit"),
        ("0.5us", "finer than a microsecond"),
        ("-3s", "is not a time"),
    ],
)
def test_parse_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(text, SECOND)


def test_format_keeps_the_bare_unit_when_exact() -> None:
    assert format_duration(14_000_000, MICROSECOND) == "14000000"
    assert format_duration(120_000_000, SECOND) == "120"
    assert format_duration(1_500_000, SECOND) == "1.5s"
    assert format_duration(250, SECOND) == "250us"
    assert parse_duration(format_duration(1_234_567, SECOND), SECOND) == 1_234_567


def test_human() -> None:
    assert [human_duration(v) for v in (0, 500_000, 14_400_000, 90 * SECOND, 120 * SECOND)] == [
        "0s",
        "500ms",
        "14.4s",
        "90s",
        "2min",
    ]
