"""cmcld on separate hosts (namespaces): nodes find each other by name and talk mTLS."""

import subprocess
from pathlib import Path

from tests.netns.lab import NETNS_ETC, Lab
from tests.support import SOURCE_COMMAND, ClusterCA, Daemon, command_env


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def test_query_across_hosts_and_cleanup(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    lab = Lab()
    daemons: dict[str, Daemon] = {}
    try:
        lab.build(["n1", "n2"])
        assert {f"{lab.prefix}-n1", f"{lab.prefix}-n2", lab.switch} <= namespaces()
        for node in ("n1", "n2"):
            root = tmp_path / node
            cluster_ca.install_node(root, node)
            daemons[node] = lab.start_daemon(node, root, node, SOURCE_COMMAND)
        env = command_env(tmp_path / "n1", "n1")
        result = lab.run("n1", [*SOURCE_COMMAND, "cmquerycl", "-n", "n1", "-n", "n2"], env)
        assert result.returncode == 0, result.stderr
        assert "198.18.0.10          (n1)" in result.stdout
        assert "198.18.0.11          (n2)" in result.stdout
        daemons["n2"].process.kill()
        daemons["n2"].process.wait(10)
        result = lab.run("n1", [*SOURCE_COMMAND, "cmquerycl", "-n", "n2"], env)
        assert result.returncode == 1
        assert "cannot query node n2: nothing listens at n2:5302" in result.stderr
    finally:
        lab.close()
    assert not any(name.startswith(lab.prefix) for name in namespaces())
    assert not any(p.name.startswith(lab.prefix) for p in NETNS_ETC.glob("*"))
    assert all(d.process.poll() is not None for d in daemons.values())
