"""Maintenance mode on real hosts with the built zipapp (cmmodpkg -m on|off, cmrunpkg,
cmhaltpkg -s): the package of tests/netns/pkgsite.py (floating IP, ext4 on a shared
disk, a TCP service) on three hosts at MEMBER_TIMEOUT 1 s, a client probing the address.

While in maintenance the cluster leaves the package alone: a killed service is neither
restarted nor failed over and cmviewcl says so; halting the services only keeps the
address and the filesystem up (the client's outage is only the service's); when its
node fails, maintenance mode ends and nobody starts the package (Serviceguard)."""

import os
import signal
import time
from pathlib import Path

from tests.netns.cluster import wait_for
from tests.netns.pkgsite import PKG, package_site, split_outages


def test_maintenance_mode_leaves_the_package_alone_and_partial_halts_keep_the_rest(
    tmp_path: Path,
) -> None:
    with package_site(tmp_path) as site:
        c = site.c
        elsewhere = c.cm("n2", "cmmodpkg", "-m", "on", "-n", "n2", PKG)
        out = elsewhere.stdout + elsewhere.stderr
        assert elsewhere.returncode != 0 and "where it runs" in out and "Traceback" not in out
        # Switching on: -m on turns it off meanwhile (Serviceguard would refuse).
        said = c.cm_ok("n2", "cmmodpkg", "-v", "-m", "on", PKG)
        assert "AUTO_RUN) disabled meanwhile" in said, said
        view = c.wait_package(PKG, on="n1", observer="n3", state="maintenance", timeout=10)
        assert view["status"] == "up" and view["maintenance"] == "n1", view
        assert "Maintenance: on, on n1" in c.cm_ok("n3", "cmviewcl", "-v", "-p", PKG)

        # A killed service: reported, not restarted, not failed over.
        probe = site.start_probe()
        _, pid = site.wait_answer_from("n1").split(" ")
        os.kill(int(pid), signal.SIGKILL)

        def reported() -> bool:
            seen = c.package("n2", PKG)
            return bool(seen.get("services")) and not seen["services"][0]["running"]

        wait_for(reported, 10, "the dead service in cmviewcl")
        time.sleep(3 * 1.0)  # three MEMBER_TIMEOUTs: nothing moves, nothing restarts
        seen = c.package("n2", PKG)
        assert seen["node"] == "n1" and seen["state"] == "maintenance", seen
        assert seen["services"][0]["restarts"] == 0 and not seen["services"][0]["running"]
        assert "sg/service down" in seen["ailing"], seen
        assert site.holds("n1") == (True, True), "the address and filesystem stay up"
        assert site.holds("n2") == (False, False) and site.holds("n3") == (False, False)
        off = c.cm("n3", "cmmodpkg", "-m", "off", PKG)
        assert off.returncode != 0 and "not whole and healthy" in off.stderr, off

        # cmrunpkg starts what is missing: the service, and nothing else again.
        c.cm_ok("n3", "cmrunpkg", PKG)
        site.wait_answer_from("n1", 10)

        # cmhaltpkg -s: the services only; the address and filesystem stay.
        c.cm_ok("n2", "cmhaltpkg", "-s", PKG)
        assert site.holds("n1") == (True, True)
        assert site.answer(0.5) == ""
        assert c.package("n3", PKG)["state"] == "maintenance"
        c.cm_ok("n2", "cmrunpkg", PKG)
        site.wait_answer_from("n1", 10)
        summary = site.stop_probe(probe)
        assert summary["hosts"] == ["n1"], summary  # it never moved
        moves, _ = split_outages(summary)
        assert not moves, summary

        # Healthy and whole again: maintenance mode off, switching back on as it was.
        c.cm_ok("n3", "cmmodpkg", "-m", "off", PKG)
        view = c.wait_package(PKG, on="n1", observer="n2", timeout=10)
        assert view["maintenance"] == "" and view["auto_run"] is True, view

        # Its node fails while in maintenance: maintenance ends, nobody starts it.
        c.cm_ok("n3", "cmmodpkg", "-m", "on", PKG)
        c.wait_package(PKG, on="n1", observer="n2", state="maintenance", timeout=10)
        c.crash("n1")

        def ended() -> bool:
            seen = c.package("n2", PKG)
            return seen.get("maintenance") == "" and "n1" not in c.running_members("n2")

        wait_for(ended, 20, "maintenance mode ended with n1 gone")
        time.sleep(2.0)
        seen = c.package("n3", PKG)
        assert seen["status"] == "down" and seen["auto_run"] is False, seen
        assert site.holds("n2") == (False, False) and site.holds("n3") == (False, False)
        assert "maintenance mode ended (n1 left)" in c.log("n2") + c.log("n3")
