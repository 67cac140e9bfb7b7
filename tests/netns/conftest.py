"""Namespace tests need root and iproute2; they fail (not skip) without them, since
CI runs as root and a silent skip would hide a broken set-up."""

import os
import shutil

import pytest


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
