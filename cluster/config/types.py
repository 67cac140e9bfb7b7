"""Value types of configuration parameters: text in, typed value out, and back.

A parameter's type knows how to read the operator's text (raising ValueError with a
reason an operator understands), how to write the value back, and how to describe
itself in a template. Values are only `str`, `int` or `bool`, the three kinds the
protobuf `ConfigEntry` carries, so the binary form needs no schema of its own.
"""

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from cluster.config.units import UNIT_NAMES, format_duration, human_duration, parse_duration

Value = str | int | bool


class ValueType(Protocol):
    """How one kind of value is read, written and described."""

    @property
    def hint(self) -> str:
        """A few words for templates and messages: "yes or no", "time in seconds"."""
        ...

    def parse(self, text: str) -> Value: ...

    def render(self, value: Value) -> str: ...


@dataclass(frozen=True)
class Text:
    """Free text; spaces are kept (`service_cmd /bin/app -x`)."""

    hint: str = "text"
    max_len: int = 4096

    def parse(self, text: str) -> Value:
        if len(text) > self.max_len:
            raise ValueError(f"value is longer than {self.max_len} characters")
        if any(ord(c) < 32 and c != "\t" for c in text):
            raise ValueError("value contains control characters")
        return text

    def render(self, value: Value) -> str:
        return str(value)


@dataclass(frozen=True)
class Word:
    """One token without spaces: an interface, a volume group, a file system type."""

    hint: str = "a word"
    pattern: str = r"^[A-Za-z0-9_./:@+=-]{1,255}$"

    def parse(self, text: str) -> Value:
        if not re.match(self.pattern, text):
            raise ValueError(f"{text!r} is not {self.hint}")
        return text

    def render(self, value: Value) -> str:
        return str(value)


@dataclass(frozen=True)
class Name:
    """A name checked by one of cluster/names.py's rules, so every tool agrees."""

    check: Callable[[str], str | None]
    hint: str = "a name"

    def parse(self, text: str) -> Value:
        problem = self.check(text)
        if problem:
            raise ValueError(problem)
        return text

    def render(self, value: Value) -> str:
        return str(value)


@dataclass(frozen=True)
class Integer:
    """A whole number within [minimum, maximum]; `specials` are words standing for numbers."""

    minimum: int
    maximum: int
    specials: Mapping[str, int] = field(default_factory=dict)

    @property
    def hint(self) -> str:
        words = "".join(f" or {w}" for w in self.specials)
        return f"{self.minimum} to {self.maximum}{words}"

    def parse(self, text: str) -> Value:
        special = _special(self.specials, text)
        if special is not None:
            return special
        if not re.match(r"^[+-]?\d{1,18}$", text):
            raise ValueError(f"{text!r} is not a whole number ({self.hint})")
        number = int(text)
        if not self.minimum <= number <= self.maximum:
            raise ValueError(f"{number} is out of range ({self.hint})")
        return number

    def render(self, value: Value) -> str:
        return _special_word(self.specials, value) or str(value)


@dataclass(frozen=True)
class Duration:
    """A time in microseconds; a bare number counts in `unit` (Serviceguard's habit)."""

    unit: int
    minimum: int
    maximum: int
    specials: Mapping[str, int] = field(default_factory=dict)

    @property
    def hint(self) -> str:
        words = "".join(f" or {w}" for w in self.specials)
        span = f"{human_duration(self.minimum)} to {human_duration(self.maximum)}"
        return f"time, bare numbers in {UNIT_NAMES[self.unit]}, {span}{words}"

    def parse(self, text: str) -> Value:
        special = _special(self.specials, text)
        if special is not None:
            return special
        micros = parse_duration(text, self.unit)
        if not self.minimum <= micros <= self.maximum:
            raise ValueError(
                f"{human_duration(micros)} is out of range "
                f"({human_duration(self.minimum)} to {human_duration(self.maximum)}"
                + "".join(f" or {w}" for w in self.specials)
                + ")"
            )
        return micros

    def render(self, value: Value) -> str:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{value!r} is not a time")
        return _special_word(self.specials, value) or format_duration(value, self.unit)


@dataclass(frozen=True)
class Flag:
    """yes or no (also true/false, on/off, enabled/disabled); written back as yes/no."""

    hint: str = "yes or no"

    def parse(self, text: str) -> Value:
        lowered = text.lower()
        if lowered in ("yes", "y", "true", "on", "enabled", "1"):
            return True
        if lowered in ("no", "n", "false", "off", "disabled", "0"):
            return False
        raise ValueError(f"{text!r} is not yes or no")

    def render(self, value: Value) -> str:
        return "yes" if value else "no"


@dataclass(frozen=True)
class Choice:
    """One of a few words, case-insensitive; stored in the declared spelling."""

    choices: tuple[str, ...]

    @property
    def hint(self) -> str:
        return " or ".join(self.choices)

    def parse(self, text: str) -> Value:
        for choice in self.choices:
            if choice.lower() == text.lower():
                return choice
        raise ValueError(f"{text!r} is not one of {', '.join(self.choices)}")

    def render(self, value: Value) -> str:
        return str(value)


@dataclass(frozen=True)
class Address:
    """An IP address; with `prefix`, optionally followed by /PREFIX (`198.18.0.1/24`)."""

    prefix: bool = False

    @property
    def hint(self) -> str:
        return "IP address[/prefix]" if self.prefix else "IP address"

    def parse(self, text: str) -> Value:
        if "/" in text and not self.prefix:
            raise ValueError(f"{text!r}: give the address without a prefix length")
        try:
            if "/" in text:
                return str(ipaddress.ip_interface(text))
            return str(ipaddress.ip_address(text))
        except ValueError as exc:
            what = "an ADDRESS/PREFIX (like 198.18.0.1/24)" if "/" in text else "an IP address"
            raise ValueError(f"{text!r} is not {what}") from exc

    def render(self, value: Value) -> str:
        return str(value)


@dataclass(frozen=True)
class Subnet:
    """An IP subnet: its network address, with or without /PREFIX (`198.18.1.0/24`)."""

    hint: str = "subnet address[/prefix]"

    def parse(self, text: str) -> Value:
        try:
            if "/" in text:
                return str(ipaddress.ip_network(text, strict=True))
            return str(ipaddress.ip_address(text))
        except ValueError as exc:
            if "has host bits set" in str(exc):
                network = ipaddress.ip_network(text, strict=False)
                raise ValueError(f"{text!r} has host bits set; the subnet is {network}") from exc
            raise ValueError(f"{text!r} is not a subnet address") from exc

    def render(self, value: Value) -> str:
        return str(value)


HOST_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


@dataclass(frozen=True)
class Host:
    """A host name or an IP address."""

    hint: str = "host name or IP address"

    def parse(self, text: str) -> Value:
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            pass
        if not HOST_RE.match(text):
            raise ValueError(f"{text!r} is not a host name or IP address")
        return text

    def render(self, value: Value) -> str:
        return str(value)


@dataclass(frozen=True)
class AbsPath:
    """An absolute path; `device` also admits LABEL=, UUID= and host:/export."""

    device: bool = False

    @property
    def hint(self) -> str:
        return "device (/dev/..., LABEL=, UUID= or host:/path)" if self.device else "absolute path"

    def parse(self, text: str) -> Value:
        if any(ord(c) < 32 for c in text) or len(text) > 1024:
            raise ValueError(f"{text!r} is not a usable path")
        if text.startswith("/") and "//" not in text.rstrip("/"):
            return text
        if self.device and re.match(r"^(LABEL|UUID|PARTUUID|PARTLABEL)=\S+$", text):
            return text
        if self.device and re.match(r"^[A-Za-z0-9.\[\]:-]+:/\S*$", text):
            return text
        raise ValueError(
            f"{text!r} is not {'a ' + self.hint if self.device else 'an absolute path'}"
        )

    def render(self, value: Value) -> str:
        return str(value)


@dataclass(frozen=True)
class Command:
    """A command line whose program is an absolute path (Serviceguard passes no PATH)."""

    hint: str = "absolute program path and arguments"

    def parse(self, text: str) -> Value:
        program = text.split(None, 1)[0] if text.strip() else ""
        if not program.startswith("/"):
            raise ValueError(
                f"{program or text!r}: the command must start with an absolute path "
                "(no PATH is passed to it)"
            )
        if any(ord(c) < 32 and c != "\t" for c in text):
            raise ValueError("command contains control characters")
        return text

    def render(self, value: Value) -> str:
        return str(value)


def program_of(command: str) -> str:
    """The program a Command value runs: its first word."""
    return command.split(None, 1)[0]


@dataclass(frozen=True)
class Pattern:
    """Text matching a pattern, normalized by `normalize` (e.g. `dbpkg=up` -> `dbpkg = UP`)."""

    regex: str
    hint: str
    normalize: Callable[[re.Match[str]], str]

    @cached_property
    def _compiled(self) -> re.Pattern[str]:
        return re.compile(self.regex)

    def parse(self, text: str) -> Value:
        match = self._compiled.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not {self.hint}")
        return self.normalize(match)

    def render(self, value: Value) -> str:
        return str(value)


def _special(specials: Mapping[str, int], text: str) -> int | None:
    for word, number in specials.items():
        if word.lower() == text.lower():
            return number
    return None


def _special_word(specials: Mapping[str, int], value: Value) -> str | None:
    for word, number in specials.items():
        if number == value and not isinstance(value, bool):
            return word
    return None
