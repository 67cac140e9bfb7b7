"""Time values: microseconds as Serviceguard writes them, or a number with a unit.

Serviceguard's cluster file counts in microseconds (`MEMBER_TIMEOUT 14000000`) while its
package file counts in seconds (`run_script_timeout 60`); each parameter declares which
unit a bare number means. Everyone may also write a unit (`14s`, `500ms`, `2min`), which
removes the guesswork, and internally every time is an integer number of microseconds.
"""

import re
from decimal import Decimal, InvalidOperation

MICROSECOND = 1
MILLISECOND = 1_000
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

SUFFIXES: dict[str, int] = {
    "us": MICROSECOND,
    "µs": MICROSECOND,
    "ms": MILLISECOND,
    "s": SECOND,
    "sec": SECOND,
    "m": MINUTE,
    "min": MINUTE,
    "h": HOUR,
}
UNIT_NAMES = {MICROSECOND: "microseconds", MILLISECOND: "milliseconds", SECOND: "seconds"}
_DURATION_RE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[a-zµ]*)$", re.IGNORECASE)


def parse_duration(text: str, bare_unit: int) -> int:
    """Microseconds in `text`; a number without a unit counts in `bare_unit`.

    Raises ValueError with an operator-readable reason.
    """
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time (write e.g. 14s, 500ms or a number)")
    unit_text = match["unit"].lower()
    if unit_text:
        if unit_text not in SUFFIXES:
            known = ", ".join(k for k in SUFFIXES if k != "µs")
            raise ValueError(f"unknown time unit {match['unit']!r} in {text!r} (use {known})")
        unit = SUFFIXES[unit_text]
    else:
        unit = bare_unit
    try:
        value = Decimal(match["number"]) * unit
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits decimals only
        raise ValueError(f"{text!r} is not a time") from exc
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} is finer than a microsecond")
    if len(match["number"]) > 30:
        raise ValueError(f"{text!r} is too large")
    return int(value)


def format_duration(micros: int, bare_unit: int) -> str:
    """How a time is written back: a bare number in the parameter's unit when exact."""
    if micros % bare_unit == 0:
        return str(micros // bare_unit)
    return human_duration(micros)


def human_duration(micros: int) -> str:
    """A short exact form for messages and values that do not fit the bare unit."""
    if micros == 0:
        return "0s"
    for unit, suffix in ((HOUR, "h"), (MINUTE, "min"), (SECOND, "s")):
        if micros % unit == 0:
            return f"{micros // unit}{suffix}"
    if micros >= SECOND and micros % MILLISECOND == 0:
        return f"{Decimal(micros) / SECOND}s"  # 14.4s rather than 14400ms
    if micros % MILLISECOND == 0:
        return f"{micros // MILLISECOND}ms"
    return f"{micros}us"
