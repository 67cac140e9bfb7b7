"""Fixtures for the driver tests: a Context that records what drivers report, loop
devices that are always detached, and Python run inside a lab host's namespaces."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cluster.resources.base import Context, Health, Resource
from tests.netns.lab import Lab

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Recorder:
    """What a driver told the runner through its Context."""

    changes: int = 0
    failures: list[tuple[str, Health]] = field(default_factory=list)
    records: list[logging.LogRecord] = field(default_factory=list)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


class _ListHandler(logging.Handler):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        self.recorder.records.append(record)


def make_context(tmp_path: Path, **overrides: Any) -> tuple[Context, Recorder]:
    recorder = Recorder()
    logger = logging.getLogger(f"pkg.{tmp_path.name}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_ListHandler(recorder))

    def changed() -> None:
        recorder.changes += 1

    def failed(resource: Resource, health: Health) -> None:
        recorder.failures.append((resource.label, health))

    values: dict[str, Any] = {
        "package": "pkg1",
        "node": "a",
        "log": logger,
        "env": {"PKG_VAR": "from-package"},
        "timeout": 30.0,
        "output": tmp_path / "pkg1.log",
        "on_change": changed,
        "on_failure": failed,
    }
    values.update(overrides)
    return Context(**values), recorder


@pytest.fixture
def ctx(tmp_path: Path) -> tuple[Context, Recorder]:
    return make_context(tmp_path)


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


# -- loop devices -----------------------------------------------------------------------


@dataclass
class Loops:
    """Loop devices this test attached; `close` detaches exactly those."""

    directory: Path
    attached: list[str] = field(default_factory=list)

    def image(self, name: str, size_mb: int, mkfs: list[str] | None = None) -> Path:
        path = self.directory / f"{name}.img"
        with path.open("wb") as f:
            f.truncate(size_mb << 20)
        if mkfs:
            subprocess.run([*mkfs, str(path)], check=True, capture_output=True)
        return path

    def attach(self, image: Path) -> str:
        done = subprocess.run(
            ["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        device = done.stdout.strip()
        self.attached.append(device)
        return device

    def close(self) -> None:
        for device in reversed(self.attached):
            # A device still mounted in a lab host is freed when the lab unmounts it
            # (losetup -d then sets autoclear).
            subprocess.run(["losetup", "-d", device], capture_output=True, check=False)
        self.attached.clear()


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[Loops]:
    images = tmp_path / "images"
    images.mkdir()
    keeper = Loops(images)
    try:
        yield keeper
    finally:
        keeper.close()


# -- Python inside a lab host -------------------------------------------------------------

PRELUDE = """
import asyncio, json, logging, sys, os, time
from pathlib import Path
from cluster.resources.base import Context, ResourceError
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
ARGS = json.loads(sys.argv[1])
def context(**kw):
    values = dict(package="pkg1", node=os.uname().nodename, log=logging.getLogger("pkg1"),
                  env={"PKG_VAR": "x"}, timeout=30.0)
    values.update(kw)
    return Context(**values)
result = {}
"""


def host_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env


def in_host(lab: Lab, host: str, code: str, **args: Any) -> dict[str, Any]:
    """Run `code` with Python on a lab host; it fills the dict `result`, returned here."""
    script = PRELUDE + textwrap.dedent(code) + "\nprint('RESULT ' + json.dumps(result))\n"
    done = lab.run(
        host, [sys.executable, "-c", script, json.dumps(args)], env=host_env(), timeout=90
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    value: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return value


def host_addresses(lab: Lab, host: str) -> dict[str, list[dict[str, Any]]]:
    """interface -> its IPv4 addr_info entries, as `ip -j addr` shows them."""
    out = lab.run(host, ["ip", "-j", "-4", "addr"]).stdout
    return {link["ifname"]: link.get("addr_info", []) for link in json.loads(out)}


def has_address(lab: Lab, host: str, address: str) -> str | None:
    for name, infos in host_addresses(lab, host).items():
        if any(i["local"] == address for i in infos):
            return name
    return None


def mounted(lab: Lab, host: str, mount_point: Path) -> bool:
    return lab.run(host, ["findmnt", "-n", str(mount_point)]).returncode == 0
