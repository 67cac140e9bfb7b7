"""ALERT_SCRIPT blocks in the cluster file: parsed into the model, bad values named by file
and line."""

from .helpers import THREE_NODES, check, config, messages


def test_alerts_are_read_with_their_defaults() -> None:
    text = THREE_NODES + (
        "ALERT_SCRIPT /usr/lib/cmcluster/alerts/syslog.sh\n"
        "  ALERT_EVENTS node_failed, package_moved\n"
        "ALERT_SCRIPT /usr/lib/cmcluster/alerts/mail.sh\n"
        "  ALERT_RECIPIENT ops@example.com\n"
        "  ALERT_TIMEOUT 5s\n"
    )
    log, mail = config(text).cluster.alerts
    assert (log.name, log.events, log.timeout_us) == (
        "syslog.sh",
        ("node_failed", "package_moved"),
        30_000_000,
    )
    assert log.wants("node_failed") and not log.wants("package_started")
    assert (mail.recipient, mail.events, mail.timeout_us) == ("ops@example.com", ("all",), 5e6)
    assert mail.wants("lease_lost")


def test_bad_alerts_are_named_by_line() -> None:
    bad = THREE_NODES + "ALERT_SCRIPT relative.sh\n  ALERT_EVENTS node_failed,nodes_exploded\n"
    found = messages(check(bad))
    assert any("cluster.ascii:17:" in m and "relative.sh" in m for m in found), found
    assert any(
        "cluster.ascii:18:" in m and "unknown event kind 'nodes_exploded'" in m for m in found
    )
    orphan = messages(check(THREE_NODES + "ALERT_EVENTS all\n"))
    assert any("ALERT_EVENTS" in m for m in orphan), orphan
