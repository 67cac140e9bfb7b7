"""Issue 5 on real hosts: cluster formation, failures, partitions, the quorum server.

Hosts are lab namespaces running the built zipapp's cmcld; MEMBER_TIMEOUT is 2 s so
the whole file runs in a few minutes.
"""

import re
import subprocess
import time
from pathlib import Path

from tests.netns.cluster import (
    QS,
    QS_POLL,
    LabCluster,
    cm_command,
    configure,
    lab_cluster,
    wait_for,
)
from tests.netns.lab import Lab
from tests.support import ClusterCA

MT = 2.0
SLACK = 1.0  # the bound: reformation within MEMBER_TIMEOUT + 1 s


def test_cmruncl_forms_and_cmviewcl_shows_it(tmp_path: Path) -> None:
    with lab_cluster(tmp_path) as c:
        for node in c.nodes:
            assert c.states(node) == {n: "up/running" for n in c.nodes}
        view = c.view("n2")
        assert view["running"] and view["epoch"] >= 1 and view["coordinator"] in c.nodes
        assert view["lease_held"]
        table = c.ok("n3", "cmviewcl", "-v")
        assert table.splitlines()[:2] == ["CLUSTER        STATUS", "lab            up"]
        assert "Heartbeat_Paths:" in table and f"epoch {view['epoch']}" in table
        assert "lab" in c.ok("n1", "cmviewcl", "-f", "line").splitlines()[0]


def test_sigkill_reforms_in_time_and_node_rejoins(tmp_path: Path) -> None:
    with lab_cluster(tmp_path) as c:
        epoch = c.view("n1")["epoch"]
        killed = c.kill("n3")
        took = wait_for(lambda: c.running_members("n1") == {"n1", "n2"}, MT + 5, "reformed")
        assert c.states("n1")["n3"] == "down/failed"
        assert c.view("n1")["epoch"] > epoch
        decided = c.event_time("n1", r"epoch \d+: n1,n2 \(coordinator \w+\); left n3", after=0)
        assert decided - (time.time() - (time.monotonic() - killed)) <= MT + SLACK, took
        c.start("n3")
        wait_for(lambda: c.states("n3").get("n3") == "down/halted", 10, "n3 halted after restart")
        c.ok("n1", "cmrunnode", "n3")
        wait_for(lambda: c.running_members("n1") == set(c.nodes), 10, "n3 rejoined")


def test_partition_2_1_majority_keeps_running(tmp_path: Path) -> None:
    with lab_cluster(tmp_path) as c:
        cut_at = time.time()
        for peer in ("n1", "n2"):
            c.lab.cut("n3", peer)
        cut_done = time.time()
        wait_for(lambda: c.running_members("n1") == {"n1", "n2"}, MT + 5, "majority reformed")
        deadline = c.lease_deadline("n3", after=cut_at)
        # The lease ends at most MT after the last answered ping was sent, and no ping
        # is answered after the cut (a few ms of log-stamp rounding allowed).
        assert deadline - cut_done <= MT + 0.01, (
            f"minority kept its lease {deadline - cut_done:.3f} s"
        )
        assert not c.view("n3")["lease_held"]
        assert "n3" not in c.view("n1")["members"]
        c.lab.heal()
        wait_for(lambda: c.running_members("n1") == set(c.nodes), 15, "n3 back after heal")


def test_two_nodes_with_quorum_server(tmp_path: Path) -> None:
    with lab_cluster(tmp_path, ("a", "b"), quorum_server=True) as c:
        # Losing either node: the other goes on, with the quorum server's vote.
        c.kill("b")
        wait_for(lambda: c.running_members("a") == {"a"}, MT + 5, "a alone")
        assert c.view("a")["lease_held"]
        c.start("b")
        c.ok("b", "cmrunnode")
        wait_for(lambda: c.running_members("a") == {"a", "b"}, 15, "b rejoined")
        c.kill("a")
        wait_for(lambda: c.running_members("b") == {"b"}, MT + 5, "b alone")
        c.start("a")
        c.ok("a", "cmrunnode")
        wait_for(lambda: c.running_members("b") == {"a", "b"}, 15, "a rejoined")
        # Losing the link between them: exactly one side keeps running.
        cut_at = time.time()
        c.lab.cut("a", "b")
        cut_done = time.time()
        wait_for(
            lambda: {c.view("a").get("lease_held"), c.view("b").get("lease_held")} == {True, False},
            MT + 5,
            "one side only",
        )
        time.sleep(MT)  # and it stays so
        sides = {n: c.running_members(n) for n in ("a", "b")}
        holders = [n for n in ("a", "b") if c.view(n)["lease_held"]]
        assert len(holders) == 1, sides
        assert sides[holders[0]] == {holders[0]}
        loser = "b" if holders == ["a"] else "a"
        # A tie: the loser still holds its lease through the quorum server's answers
        # until the server promises the winner's epoch (which takes the winner up to
        # MT to propose), then loses it within MT of that promise (DESIGN.md §2).
        held = c.lease_deadline(loser, after=cut_at) - cut_done
        assert held <= 2 * MT + 0.01, f"{loser} kept its lease {held:.3f} s after the cut"


def test_quorum_server_down_changes_nothing(tmp_path: Path) -> None:
    with lab_cluster(tmp_path, ("a", "b"), quorum_server=True) as c:
        epoch = c.view("a")["epoch"]
        assert f"quorum_server:{QS}|status=up" in c.ok("a", "cmviewcl", "-f", "line")
        assert re.search(rf"(?m)^\s+{QS}\s+up\s+running$", c.ok("b", "cmviewcl", "-v"))
        c.kill(QS)
        time.sleep(3 * MT)
        for node in ("a", "b"):
            view = c.view(node)
            assert view["epoch"] == epoch and view["lease_held"]
            assert c.running_members(node) == {"a", "b"}

            def shown_down(n: str = node) -> bool:
                return f"quorum_server:{QS}|status=down" in c.ok(n, "cmviewcl", "-f", "line")

            # and the operator sees that the tie-breaker is gone, by the next poll
            wait_for(shown_down, QS_POLL + 5, f"quorum server down in cmviewcl on {node}", 0.5)
        c.daemons["a"].wait_for_log(f"quorum server {QS} is not responding")


def test_losing_one_heartbeat_network_changes_nothing(tmp_path: Path) -> None:
    with lab_cluster(tmp_path, networks=("lan", "hb")) as c:
        epoch = c.view("n1")["epoch"]
        c.lab.link_down("n2", "hb")
        time.sleep(3 * MT)
        for node in c.nodes:
            assert c.view(node)["epoch"] == epoch
            assert c.running_members(node) == set(c.nodes)
        paths = c.ok("n1", "cmviewcl", "-v", "-f", "line")
        assert "heartbeat_path:n2:198.18.1.0/24|status=down" in paths
        assert "heartbeat_path:n2:198.18.0.0/24|status=up" in paths


def test_cmhaltnode_and_cmhaltcl(tmp_path: Path) -> None:
    with lab_cluster(tmp_path) as c:
        c.ok("n1", "cmhaltnode", "n2")
        wait_for(lambda: c.states("n1").get("n2") == "down/halted", 10, "n2 halted")
        assert c.running_members("n1") == {"n1", "n3"}
        assert c.running_members("n2") == {"n1", "n3"}  # n2 still sees the cluster
        c.ok("n3", "cmhaltcl")
        for node in c.nodes:

            def down(n: str = node) -> bool:
                return not c.view(n)["running"]

            wait_for(down, 10, f"cluster down on {node}")
            assert c.states(node)[node] == "down/halted"
        # cmruncl -n asserts the other nodes are down: without a terminal it needs -f.
        refused = c.cm("n2", "cmruncl", "-n", "n1", "-n", "n2")
        assert refused.returncode != 0
        assert "needs confirmation: run it with -f" in refused.stdout + refused.stderr
        assert "Traceback" not in refused.stdout + refused.stderr
        time.sleep(MT)
        assert not c.view("n1")["running"] and not c.view("n2")["running"]
        c.ok("n2", "cmruncl", "-f", "-n", "n1", "-n", "n2")  # and it can start again
        wait_for(lambda: c.running_members("n2") == {"n1", "n2"}, 10, "formed on n1, n2")
        assert c.states("n1")["n3"] == "down/halted"
        c.ok("n3", "cmrunnode")
        wait_for(lambda: c.running_members("n2") == set(c.nodes), 10, "n3 joined")


def test_node_of_another_cluster_cannot_join(tmp_path: Path) -> None:
    with lab_cluster(tmp_path) as c:
        c.ok("n3", "cmhaltnode")
        c.lab.kill(c.daemons["n3"].process)
        # n3 comes back with a certificate of another cluster's CA.
        foreign = ClusterCA.create(tmp_path / "foreign-ca", "other")
        c.ca, real = foreign, c.ca
        c._install("n3")
        c.ca = real
        c.start("n3")
        # n3 tries to join (it would keep trying for AUTO_START_TIMEOUT): it never gets in.
        joining = subprocess.Popen(
            c.lab.host("n3").argv([*c.command, "cmrunnode"]),
            env=c.env("n3"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3 * MT)
            assert joining.poll() is None or joining.returncode != 0
            assert c.running_members("n1") == {"n1", "n2"}
            assert "n3" not in c.view("n2")["members"]
            assert c.states("n3")["n3"] != "up/running"
            c.daemons["n1"].wait_for_log("TLS handshake refused")
        finally:
            joining.kill()
            joining.wait(10)


def test_changes_that_cannot_be_made_online_are_refused(tmp_path: Path) -> None:
    """Issue 3: while the cluster runs, cmapplyconf follows Serviceguard's online rules."""
    with lab_cluster(tmp_path) as c:
        cluster_file = tmp_path / "cluster.ascii"
        generation = c.view("n1")["config_generation"]
        changed = tmp_path / "changed.ascii"
        changed.write_text(
            cluster_file.read_text().replace(
                f"MEMBER_TIMEOUT {int(MT * 1000)}ms", "MEMBER_TIMEOUT 3s"
            )
        )
        refused = c.cm("n1", "cmapplyconf", "-f", "-C", str(changed))
        assert refused.returncode == 1
        assert "MEMBER_TIMEOUT" in refused.stdout and "halt" in refused.stdout.lower()
        assert c.view("n2")["config_generation"] == generation
        package = tmp_path / "pkg1.conf"
        package.write_text("package_name pkg1\nnode_name n1\nnode_name n2\n")
        c.ok("n1", "cmapplyconf", "-f", "-P", str(package))  # a halted package: fine
        assert c.view("n3")["config_generation"] == generation + 1
        deleting = c.cm("n2", "cmdeleteconf", "-f")
        assert deleting.returncode == 1 and "cmhaltcl" in deleting.stdout


def test_auto_start_forms_with_every_node_and_rejoins_a_running_cluster(tmp_path: Path) -> None:
    """AUTO_START (cmcld --auto-start, as AUTOSTART_CMCLD=1 at boot): nodes that boot
    wait for every configured node before forming; one that boots later joins the
    running cluster, with no cmruncl or cmrunnode."""
    with lab_cluster(tmp_path, run=False) as c:
        for node in c.nodes:
            c.lab.kill(c.daemons[node].process)
        c.start("n1", "--auto-start")
        c.start("n2", "--auto-start")
        time.sleep(2 * MT)  # n3 is not up: no cluster of two yet
        assert not c.view("n1")["running"] and not c.view("n2")["running"]
        c.start("n3", "--auto-start")
        wait_for(lambda: c.running_members("n1") == set(c.nodes), 30, "formed by AUTO_START")
        c.kill("n2")
        wait_for(lambda: c.running_members("n1") == {"n1", "n3"}, MT + 5, "n2 gone")
        c.start("n2", "--auto-start")
        wait_for(lambda: c.running_members("n3") == set(c.nodes), 30, "n2 rejoined by itself")
        # without --auto-start a restarted node stays out until cmrunnode
        c.kill("n3")
        wait_for(lambda: c.running_members("n1") == {"n1", "n2"}, MT + 5, "n3 gone")
        c.start("n3")
        time.sleep(2 * MT)
        assert c.states("n3")["n3"] == "down/halted"
        assert c.running_members("n1") == {"n1", "n2"}


def test_one_quorum_server_serves_two_clusters_of_different_cas(tmp_path: Path) -> None:
    """cmqsd trusts both clusters' CAs (appended to its ca.crt); the nodes of the
    cluster whose CA did not issue the server's certificate trust it through
    tls/qs-ca.crt. Each two-node cluster survives the loss of a node by its vote."""
    from cluster.paths import HostPaths

    with Lab() as lab:
        lab.build(["a1", "a2", "b1", "b2", QS])
        command = cm_command()
        alpha, beta = (
            LabCluster(
                lab,
                tmp_path / name,
                nodes,
                command,
                ClusterCA.create(tmp_path / f"ca-{name}", name),
                member_timeout=MT,
            )
            for name, nodes in (("alpha", ("a1", "a2")), ("beta", ("b1", "b2")))
        )
        alpha._install(QS, quorum_server=True)
        qs_ca = HostPaths(alpha.root(QS)).ca_cert
        with qs_ca.open("ab") as f:
            f.write(beta.ca.authority.certificate_pem)
        qs = lab.start_daemon(QS, alpha.root(QS), QS, command, program="cmqsd")
        for cluster in (alpha, beta):
            for node in cluster.nodes:
                cluster._install(node)
                cluster.start(node)
        for node in beta.nodes:
            tls = HostPaths(beta.root(node)).tls_dir
            (tls / "qs-ca.crt").write_bytes(alpha.ca.authority.certificate_pem)
        configure(alpha, "alpha", quorum_server=True)
        configure(beta, "beta", quorum_server=True)
        qs.wait_for_log("serving cluster alpha")
        qs.wait_for_log("serving cluster beta")
        for cluster, victim, survivor in ((alpha, "a2", "a1"), (beta, "b1", "b2")):
            assert f"quorum_server:{QS}|status=up" in cluster.ok(survivor, "cmviewcl", "-f", "line")
            cluster.kill(victim)

            def alone(c: LabCluster = cluster, n: str = survivor) -> bool:
                return c.running_members(n) == {n}

            wait_for(alone, MT + 5, f"{survivor} alone with the quorum server's vote")
            assert cluster.view(survivor)["lease_held"]


def test_quorum_server_that_lost_its_state_votes_no_more_until_reset(tmp_path: Path) -> None:
    """Issue 13 point 7 with the real cmqsd: its state file is deleted while it is
    stopped, and it is started again. The nodes tell it the state they saw, so it knows
    it forgot promises, says so and refuses to vote for the cluster: a 1|1 cut then
    leaves neither side running (never both). `cmqsd --reset-cluster` (with cmqsd
    stopped) lets it vote again, after the next membership change."""
    with lab_cluster(tmp_path, ("a", "b"), quorum_server=True) as c:
        state = c.root(QS) / "var/lib/cmcluster/qs.json"
        wait_for(state.exists, 10, "the quorum server's state on disk")
        time.sleep(2 * MT)  # the members' hellos: they have seen its state
        c.kill(QS)
        state.unlink()
        qs = c.start_quorum_server()
        qs.wait_for_log("STATE LOST, no vote until reset (cmqsd --reset-cluster lab)", 5 * MT + 10)
        c.lab.cut("a", "b")
        time.sleep(3 * MT)
        holders = [n for n in ("a", "b") if c.view(n).get("lease_held")]
        assert holders == [], holders  # no tie-breaker: nobody decides alone
        c.lab.heal()
        wait_for(lambda: c.running_members("a") == {"a", "b"}, 30, "a and b together again")
        c.kill(QS)
        reset = c.lab.run(
            QS,
            [*c.command, "cmqsd", "--reset-cluster", "lab"],
            c.env(QS),
            30,
        )
        assert reset.returncode == 0, reset.stdout + reset.stderr
        c.start_quorum_server()
        # After a reset the server's vote counts only beyond the epochs a forgotten
        # promise may concern (the nodes log from which): b leaves and rejoins until
        # the membership is past them, with both nodes voting.
        counted = re.compile(r"its votes count again after epoch (\d+)")
        wait_for(lambda: counted.search(c.log("a")) is not None, 10 * MT, "a told of the reset")
        match = counted.search(c.log("a"))
        assert match is not None
        while c.view("a")["epoch"] < int(match.group(1)):
            c.ok("b", "cmhaltnode")
            wait_for(lambda: c.running_members("a") == {"a"}, 30, "b halted")
            c.ok("b", "cmrunnode")
            wait_for(lambda: c.running_members("a") == {"a", "b"}, 30, "b back")
        time.sleep(2 * MT)  # both members' hellos reach the restarted server
        c.kill("b")  # now a goes on alone with the server's vote
        wait_for(lambda: c.running_members("a") == {"a"}, MT + 10, "a alone")
        assert c.view("a")["lease_held"]
