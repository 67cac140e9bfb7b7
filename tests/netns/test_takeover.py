"""cmtakeover, the reference notes' emergency procedure: with the cluster down, run a
package on one node by hand (its address, its filesystem, its service), refuse where
that would be unsafe, halt it in reverse order, then start the cluster as usual."""

import os
import signal
import time
from pathlib import Path

from tests.netns.cluster import wait_for
from tests.netns.pkgsite import FLOATING, PKG, RESTARTS, package_site


def test_emergency_takeover_runs_the_package_without_the_cluster(tmp_path: Path) -> None:
    with package_site(tmp_path) as site:
        c = site.c
        site.wait_answer_from("n1")

        # The cluster manages the package while cmcld runs here.
        refused = c.cm("n2", "cmtakeover", PKG)
        assert refused.returncode != 0
        assert "use cmrunpkg" in refused.stderr, refused.stderr

        c.cm_ok("n1", "cmhaltcl", "-f")
        wait_for(lambda: site.holds("n1") == (False, False), 20, "the package halted")
        c.daemons["n2"].stop()
        # Other nodes' cmcld still answer: the cluster might be running.
        refused = c.cm("n2", "cmtakeover", PKG)
        assert refused.returncode != 0
        assert "cmcld answers on n1, n3" in refused.stderr, refused.stderr
        assert site.holds("n2") == (False, False)

        for node in ("n1", "n3"):
            c.daemons[node].stop()
        log = tmp_path / "takeover.log"
        takeover = c.lab.start("n2", [*c.command, "cmtakeover", "-v", PKG], c.env("n2"), log)
        try:
            wait_for(lambda: "outside the cluster;" in log.read_text(), 30, "the takeover")
            site.wait_answer_from("n2", 10)
            assert site.holds("n2") == (True, True)

            # A second takeover elsewhere meets the address in use and leaves no trace.
            twice = c.cm("n3", "cmtakeover", "-f", PKG)
            assert twice.returncode == 1, twice.stdout + twice.stderr
            assert f"{FLOATING} is already in use on the network" in twice.stderr, twice.stderr
            assert site.holds("n3") == (False, False)

            # cmcld cannot start on n2 meanwhile.
            cmcld = c.lab.run("n2", [*c.command, "cmcld", "--no-syslog"], c.env("n2"), timeout=30)
            assert cmcld.returncode == 1
            assert "cmtakeover is running already" in cmcld.stderr, cmcld.stderr
        finally:
            if takeover.poll() is None:
                takeover.send_signal(signal.SIGTERM)
            status = takeover.wait(30)
        text = log.read_text()
        assert status == 0, text
        assert f"{PKG} halted on n2" in text, text
        assert site.holds("n2") == (False, False)

        # Taken over again: a service out of restarts halts the package (no cluster
        # to move it) and cmtakeover says so with its exit status.
        log2 = tmp_path / "takeover2.log"
        again = c.lab.start("n2", [*c.command, "cmtakeover", PKG], c.env("n2"), log2)
        try:
            wait_for(lambda: "outside the cluster;" in log2.read_text(), 30, "the takeover")
            killed: list[str] = []
            for _ in range(RESTARTS + 1):
                seen = [""]

                def restarted(seen: list[str] = seen) -> bool:
                    seen[0] = site.wait_answer_from("n2", 10)
                    return seen[0] not in killed

                wait_for(restarted, 15, "the service (re)started")
                killed.append(seen[0])
                os.kill(int(seen[0].split(" ")[1]), signal.SIGKILL)  # the service's own PID
            status = again.wait(30)
        finally:
            if again.poll() is None:
                again.send_signal(signal.SIGTERM)
                again.wait(30)
        text = log2.read_text()
        assert status == 1, text
        assert "failed:" in text and f"halting {PKG}" in text, text
        assert site.holds("n2") == (False, False)

        # Afterwards the cluster starts as usual and runs the package on its first node.
        for node in c.nodes:
            c.start(node)
        time.sleep(1)
        c.cm_ok("n1", "cmruncl", "-v")
        c.wait_package(PKG, on="n1", observer="n1", timeout=30)
        site.wait_answer_from("n1", 10)
