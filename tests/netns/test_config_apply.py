"""cmapplyconf across real hosts: all or nothing, and catching up after a crash.

Three lab hosts run cmcld with their own CMCLUSTER_ROOT; the operator's files are
written by cmquerycl -C from the hosts' real networks.
"""

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.netns.lab import Lab
from tests.support import SOURCE_COMMAND, ClusterCA, Daemon, command_env

NODES = ("n1", "n2", "n3")
BETWEEN_PHASES = {"CMCLUSTER_FAILPOINTS": "config.before-commit=4"}


@dataclass
class Site:
    lab: Lab
    work: Path
    ca: ClusterCA
    daemons: dict[str, Daemon]

    def root(self, node: str) -> Path:
        return self.work / node

    def cm(self, node: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.lab.run(
            node, [*SOURCE_COMMAND, *args], command_env(self.root(node), node), timeout
        )

    def start(self, node: str, failpoints: bool = False) -> None:
        self.daemons[node] = self.lab.start_daemon(
            node,
            self.root(node),
            node,
            SOURCE_COMMAND,
            env_extra=BETWEEN_PHASES if failpoints else None,
        )

    def view(self, node: str) -> tuple[int, str]:
        """(generation, digest) as node's cmviewconf reports them."""
        out = self.cm(node, "cmviewconf").stdout
        generation = re.search(r"Configuration generation: (\d+)", out)
        digest = re.search(r"Digest \(SHA-256\): +(\w+)", out)
        return (int(generation.group(1)) if generation else 0, digest.group(1) if digest else "")

    def staged(self, node: str) -> Path:
        return self.root(node) / "var/lib/cmcluster/staged.cmclconfig"

    def cluster_file(self, **changes: str) -> Path:
        path = self.work / "cluster.ascii"
        if not path.exists():
            args = [a for n in NODES for a in ("-n", n)]
            result = self.cm("n1", "cmquerycl", *args, "-C", str(path), "--cluster", "lab")
            assert result.returncode == 0, result.stderr
        text = path.read_text()
        for keyword, value in changes.items():
            text = re.sub(rf"(?m)^{keyword}\s+.*$", f"{keyword} {value}", text)
        path.write_text(text)
        return path


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s")


@pytest.fixture
def site(tmp_path: Path, cluster_ca: ClusterCA) -> Iterator[Site]:
    with Lab() as lab:
        lab.build(list(NODES), networks=("lan", "hb"))
        site = Site(lab, tmp_path, cluster_ca, {})
        for node in NODES:
            cluster_ca.install_node(site.root(node), node)
        yield site


def start_all(site: Site, failpoints_on: str = "") -> None:
    for node in NODES:
        site.start(node, failpoints=node == failpoints_on)


def test_apply_everywhere_then_get_round_trips(site: Site) -> None:
    start_all(site)
    cluster = site.cluster_file()
    assert site.cm("n1", "cmcheckconf", "-C", str(cluster)).returncode == 0
    applied = site.cm("n1", "cmapplyconf", "-f", "-C", str(cluster))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Committed generation 1 on n3" in applied.stdout
    views = {site.view(n) for n in NODES}
    assert len(views) == 1 and views.pop()[0] == 1
    got = site.work / "got.ascii"
    assert site.cm("n3", "cmgetconf", str(got)).returncode == 0
    again = site.cm("n2", "cmapplyconf", "-f", "-C", str(got))
    assert again.returncode == 0
    assert "The configuration is unchanged (generation 1)" in again.stdout
    info = site.cm("n2", "cmquerycl", "-f", "json").stdout
    assert '"cluster_name": "lab"' in info and '"config_generation": 1' in info


def test_interfaces_and_addresses_are_checked_on_their_nodes(site: Site) -> None:
    """cmcheckconf -C asks each node for its interfaces: a misspelt NETWORK_INTERFACE
    or an address the node does not have is an error naming the file and line."""
    start_all(site)
    text = site.cluster_file().read_text()
    found = re.search(r"(?m)^NODE_NAME\s+n2\s*$", text)
    assert found, text
    n2 = found.start()
    wrong = text[:n2] + text[n2:].replace("eth0", "eht0", 1)
    wrong = wrong.replace("198.18.0.12/24", "198.18.0.99/24")
    bad = site.work / "bad.ascii"
    bad.write_text(wrong)
    lines = wrong.splitlines()
    result = site.cm("n1", "cmcheckconf", "-C", str(bad))
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    line = next(i for i, x in enumerate(lines, 1) if "eht0" in x)
    assert f"{bad}:{line}: NETWORK_INTERFACE eht0: node n2 has no such interface" in out, out
    line = next(i for i, x in enumerate(lines, 1) if "198.18.0.99" in x)
    assert f"{bad}:{line}: HEARTBEAT_IP 198.18.0.99/24: not an address of node n3" in out, out
    assert "Traceback" not in out
    assert site.cm("n1", "cmapplyconf", "-f", "-C", str(bad)).returncode == 1
    assert site.view("n1")[0] == 0  # nothing applied


def test_refused_when_a_node_is_down_and_nothing_changes(site: Site) -> None:
    start_all(site)
    cluster = site.cluster_file()
    assert site.cm("n1", "cmapplyconf", "-f", "-C", str(cluster)).returncode == 0
    site.lab.kill(site.daemons["n3"].process)
    changed = site.cluster_file(MAX_CONFIGURED_PACKAGES="100")
    result = site.cm("n1", "cmapplyconf", "-f", "-C", str(changed))
    assert result.returncode == 1
    assert "not applied, nothing was changed: n3:" in result.stdout
    assert site.view("n1")[0] == site.view("n2")[0] == 1
    assert not site.staged("n1").exists() and not site.staged("n2").exists()


def test_node_killed_between_phases_catches_up(site: Site) -> None:
    start_all(site, failpoints_on="n1")
    assert site.cm("n1", "cmapplyconf", "-f", "-C", str(site.cluster_file())).returncode == 0
    changed = site.cluster_file(MAX_CONFIGURED_PACKAGES="100")
    env = command_env(site.root("n1"), "n1")
    apply = subprocess.Popen(
        site.lab.host("n1").argv([*SOURCE_COMMAND, "cmapplyconf", "-f", "-C", str(changed)]),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(site.staged("n3").exists, 20, "n3 staged the change")
        site.lab.kill(site.daemons["n3"].process)  # between stage and commit
        out, _ = apply.communicate(timeout=60)
    finally:
        if apply.poll() is None:
            apply.kill()
    assert apply.returncode == 0, out
    assert "Node n3 did not confirm" in out
    assert site.view("n1") == site.view("n2")
    assert site.view("n1")[0] == 2
    assert site.staged("n3").exists()  # n3 died holding the staged change
    site.start("n3")  # catches up from its peers when it starts
    wait_for(lambda: site.view("n3") == site.view("n1"), 30, "n3 caught up")
    assert not site.staged("n3").exists()
    assert "caught up: configuration generation 1 -> 2" in site.daemons["n3"].log()


def test_command_killed_mid_apply_still_completes(site: Site) -> None:
    start_all(site, failpoints_on="n1")
    assert site.cm("n1", "cmapplyconf", "-f", "-C", str(site.cluster_file())).returncode == 0
    changed = site.cluster_file(MAX_CONFIGURED_PACKAGES="50")
    apply = subprocess.Popen(
        site.lab.host("n1").argv([*SOURCE_COMMAND, "cmapplyconf", "-f", "-C", str(changed)]),
        env=command_env(site.root("n1"), "n1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: all(site.staged(n).exists() for n in NODES), 20, "every node staged")
    apply.kill()
    apply.wait(10)
    wait_for(lambda: all(site.view(n)[0] == 2 for n in NODES), 30, "generation 2 everywhere")
    assert len({site.view(n) for n in NODES}) == 1
    assert not any(site.staged(n).exists() for n in NODES)


def test_scripts_are_checked_on_every_node(site: Site) -> None:
    start_all(site)
    cluster = site.cluster_file()
    assert site.cm("n1", "cmapplyconf", "-f", "-C", str(cluster)).returncode == 0
    # A script that exists only in n1's private mount table.
    private = site.work / "private"
    private.mkdir()
    assert site.lab.run("n1", ["mount", "-t", "tmpfs", "scripts", str(private)]).returncode == 0
    script = private / "start.sh"
    made = site.lab.run("n1", ["sh", "-c", f"printf '#!/bin/sh\\n' > {script}; chmod 755 {script}"])
    assert made.returncode == 0
    package = site.work / "pkg1.conf"
    package.write_text(f"package_name pkg1\nnode_name n1\nnode_name n2\nrun_script {script}\n")
    result = site.cm("n1", "cmcheckconf", "-P", str(package))
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.splitlines() if f"{package}:4: RUN_SCRIPT" in x]
    assert str(script) in line
    assert "n2" in line and "n1" not in line.split(script.name)[-1], line


def test_delete_package_then_cluster(site: Site) -> None:
    start_all(site)
    cluster = site.cluster_file()
    package = site.work / "pkg1.conf"
    package.write_text("package_name pkg1\nnode_name n1\nnode_name n2\n")
    applied = site.cm("n1", "cmapplyconf", "-f", "-C", str(cluster), "-P", str(package))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "package_name" in site.cm("n2", "cmgetconf", "-p", "pkg1").stdout.lower()
    assert site.cm("n2", "cmdeleteconf", "-f", "-p", "pkg1").returncode == 0
    assert site.view("n3")[0] == 2
    missing = site.cm("n3", "cmgetconf", "-p", "pkg1")
    assert missing.returncode == 1 and "no package 'pkg1'" in missing.stderr
    site.lab.kill(site.daemons["n3"].process)
    refused = site.cm("n1", "cmdeleteconf", "-f")
    assert refused.returncode == 1 and "nothing was changed" in refused.stdout
    site.start("n3")
    deleted = site.cm("n1", "cmdeleteconf", "-f")
    assert deleted.returncode == 0, deleted.stdout
    for node in NODES:
        assert "The configuration was deleted" in site.cm(node, "cmviewconf").stdout
    confirm = site.cm("n1", "cmdeleteconf")
    assert confirm.returncode != 0  # no configuration left to delete
