"""Namespace tests need root and iproute2; they fail (not skip) without them, since
CI runs as root and a silent skip would hide a broken set-up."""

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.netns.lab import leftovers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/netns/" in str(item.fspath):
            item.add_marker(pytest.mark.root)


@pytest.fixture(autouse=True)
def _needs_root_and_ip() -> None:
    if os.geteuid() != 0:
        pytest.fail("namespace tests need root")
    if shutil.which("ip") is None:
        pytest.fail("namespace tests need iproute2 (make test installs it)")


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    """After every namespace test of the session: no namespace, mount, loop device,
    device path or process of any lab is left on the machine (given a few seconds for
    lazily freed loop devices and exiting processes)."""
    yield
    deadline = time.monotonic() + 15
    while (left := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        pytest.fail("the namespace tests left behind:\n  " + "\n  ".join(left))
