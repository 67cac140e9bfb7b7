"""Where a node's name and files come from: --node, CMCLUSTER_NODE, the host name;
CMCLUSTER_ROOT relocating every path."""

import socket
from pathlib import Path

from cluster.paths import HostPaths, local_node_name


def test_node_name_is_the_option_then_the_environment_then_the_host_name() -> None:
    env = {"CMCLUSTER_NODE": "fromenv"}
    assert local_node_name("fromflag", env) == "fromflag"
    assert local_node_name(None, env) == "fromenv"
    assert local_node_name(None, {}) == socket.gethostname().split(".")[0]
    assert local_node_name("", {"CMCLUSTER_NODE": ""}) == socket.gethostname().split(".")[0]


def test_root_relocates_every_host_path(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    checked = 0
    for name in dir(HostPaths):
        value = getattr(paths, name)
        if isinstance(value, Path):
            assert value.is_relative_to(tmp_path), (name, value)
            checked += 1
    assert checked >= 8  # tls, state, log, run directories and their files
