"""cmcheckconf and cmapplyconf on real hosts (the built zipapp) at MEMBER_TIMEOUT 1 s:
a package whose stop-now cannot end within STOP_MARGIN is refused with the figures,
and one that only widens the margin is applied with a warning that gives them."""

from pathlib import Path

from tests.netns.cluster import lab_cluster

REFUSED = (
    "package slowdb cannot stop within STOP_MARGIN: its stop-now may take 3.03s "
    "(1 process group 10ms, vg vgh3 3s, wake-up 20ms), but at MEMBER_TIMEOUT 1s STOP_MARGIN "
    "is at most 500ms (MEMBER_TIMEOUT/2), so another node could start it while this one "
    "still holds it; raise MEMBER_TIMEOUT to at least 6.06s"
)
WIDENED = (
    "warning: STOP_MARGIN is 250ms instead of 200ms so that package web can stop in time "
    "(1 process group 10ms, fs /srv/h3web 220ms, wake-up 20ms): a node whose pings go "
    "unanswered then stops its packages after 750ms instead of 800ms (MEMBER_TIMEOUT 1s "
    "minus STOP_MARGIN)"
)


def test_a_package_that_cannot_stop_within_its_margin_is_refused(tmp_path: Path) -> None:
    slow = tmp_path / "slowdb.conf"
    slow.write_text(
        "package_name slowdb\nnode_name n1\nnode_name n2\nvg vgh3\n"
        "service_name slowdb_app\nservice_cmd /bin/sleep 1000\n"
    )
    web = tmp_path / "web.conf"
    web.write_text(
        "package_name web\nnode_name n1\nnode_name n2\nfs_name /dev/h3web\n"
        "fs_directory /srv/h3web\nservice_name web_app\nservice_cmd /bin/sleep 1000\n"
    )
    with lab_cluster(
        tmp_path, ("n1", "n2", "n3"), member_timeout=1.0, run=False, prefix="h3sm"
    ) as c:
        checked = c.cm("n2", "cmcheckconf", "-P", str(slow))
        assert checked.returncode != 0, checked.stdout
        assert REFUSED in checked.stdout + checked.stderr
        assert "no WATCHDOG_DEVICE: a host frozen together with its lease guard" in (
            checked.stdout + checked.stderr
        )
        applied = c.cm("n1", "cmapplyconf", "-f", "-P", str(slow))
        assert applied.returncode != 0 and REFUSED in applied.stdout + applied.stderr
        assert "slowdb" not in c.ok("n1", "cmviewconf")

        checked = c.cm("n3", "cmcheckconf", "-P", str(web))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert WIDENED in checked.stdout + checked.stderr
        applied_text = c.ok("n1", "cmapplyconf", "-f", "-P", str(web))
        assert WIDENED in applied_text
        assert "web" in c.ok("n2", "cmviewconf")
