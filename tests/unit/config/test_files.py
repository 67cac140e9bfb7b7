"""Scripts are looked for on every node that may run them, one request per node."""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cluster.config.check import check_config
from cluster.config.files import FileStatus, LocalFileChecker, NodeFiles
from cluster.config.source import PackageSource, Source

from .helpers import THREE_NODES, dedent

PACKAGE = """
package_name p
node_name a
node_name b
node_name c
run_script /srv/p/start.sh
halt_script /srv/p/start.sh
service_name app
service_cmd /opt/app/bin/app --foreground
ocf_resource_name ip
ocf_agent heartbeat/IPaddr2
ocf_parameter ip=198.18.1.50
"""
AGENT = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"


class FakeChecker:
    """Node a has everything; b lacks the app; c's script is not executable; d is down."""

    def __init__(self) -> None:
        self.requests: list[Mapping[str, Sequence[str]]] = []

    def check(self, wanted: Mapping[str, Sequence[str]]) -> Mapping[str, NodeFiles]:
        self.requests.append(wanted)
        good = FileStatus(True, True)
        answers = {}
        for node, paths in wanted.items():
            if node == "d":
                answers[node] = NodeFiles(error="connection refused")
                continue
            files = {p: good for p in paths}
            if node == "b":
                files["/opt/app/bin/app"] = FileStatus(False, False)
            if node == "c":
                files["/srv/p/start.sh"] = FileStatus(True, False)
            answers[node] = NodeFiles(files)
        return answers


def test_missing_and_unexecutable_files_are_reported_per_file_with_their_nodes() -> None:
    checker = FakeChecker()
    cluster = (
        THREE_NODES + "NODE_NAME d\n  NETWORK_INTERFACE eth0\n    HEARTBEAT_IP 198.18.0.4/24\n"
    )
    package = PACKAGE + "node_name d\n"
    result = check_config(
        Source("cluster.ascii", dedent(cluster) + "QS_HOST qs\nWATCHDOG_DEVICE /dev/watchdog\n"),
        [PackageSource("p.conf", dedent(package))],
        checker,
    )
    assert [str(p) for p in result.problems] == [
        "p.conf:5: RUN_SCRIPT /srv/p/start.sh is not executable on node c",
        "p.conf:6: HALT_SCRIPT /srv/p/start.sh is not executable on node c",
        "p.conf:8: SERVICE_CMD of service app /opt/app/bin/app does not exist on node b",
        "p.conf:5: warning: could not check the scripts on node d: connection refused",
    ]
    assert len(checker.requests) == 1
    assert checker.requests[0]["a"] == ("/srv/p/start.sh", "/opt/app/bin/app", AGENT)


def test_local_checker(tmp_path: Path) -> None:
    script = tmp_path / "start.sh"
    script.write_text("#!/bin/sh\n")
    plain = tmp_path / "notes"
    plain.write_text("")
    os.chmod(script, 0o755)
    answer = LocalFileChecker().check({"a": [str(script), str(plain), str(tmp_path / "none")]})
    assert answer["a"].files == {
        str(script): FileStatus(True, True),
        str(plain): FileStatus(True, False),
        str(tmp_path / "none"): FileStatus(False, False),
    }
