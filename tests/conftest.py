"""Fixtures for every test directory."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ClusterCA, Daemon, start_daemon


@pytest.fixture
def cluster_ca(tmp_path: Path) -> ClusterCA:
    return ClusterCA.create(tmp_path / "ca")


@pytest.fixture
def daemon(tmp_path: Path, cluster_ca: ClusterCA) -> Iterator[Daemon]:
    """A running cmcld for node1 on 127.0.0.1 (a free port), stopped afterwards."""
    root = tmp_path / "node1"
    cluster_ca.install_node(root, "node1")
    running = start_daemon(root, "node1")
    try:
        yield running
    finally:
        running.stop()
