"""The example alert scripts of packaging/alerts, run as cmcld runs them (CM_ALERT_*
variables), against stand-ins for logger(1) and sendmail and a real local HTTP server."""

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.support import REPO

ALERTS = REPO / "packaging" / "alerts"
EVENT = {
    "CM_ALERT_KIND": "package_moved",
    "CM_ALERT_NODE": "n2",
    "CM_ALERT_PACKAGE": "pkg1",
    "CM_ALERT_SERVICE": "",
    "CM_ALERT_EPOCH": "8",
    "CM_ALERT_OLD_STATE": "n1",
    "CM_ALERT_NEW_STATE": "n2",
    "CM_ALERT_REASON": "n1 left the cluster",
    "CM_ALERT_CLUSTER": "c1",
    "CM_ALERT_REPORTER": "n2",
    "CM_ALERT_SEQUENCE": "12",
    "CM_ALERT_TIMESTAMP": "2026-12-07T21:00:00.000000Z",
    "CM_ALERT_NAME": "test",
}


def stand_in(bindir: Path, name: str, record: Path) -> None:
    """A program that records its arguments and its standard input."""
    bindir.mkdir(exist_ok=True)
    path = bindir / name
    path.write_text(f'#!/bin/sh\necho "$@" > {record}.args\ncat > {record}.stdin\n')
    path.chmod(0o755)


def run(script: str, tmp: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{tmp / 'bin'}:/usr/bin:/bin", **EVENT, **extra}
    return subprocess.run(
        [str(ALERTS / script)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_syslog_logs_one_line_with_a_warning_priority_for_failures(tmp_path: Path) -> None:
    stand_in(tmp_path / "bin", "logger", tmp_path / "logger")
    assert run("syslog.sh", tmp_path).returncode == 0
    args = (tmp_path / "logger.args").read_text()
    assert args.startswith("-t cmcluster-alert -p daemon.notice -- package_moved node=n2")
    assert "package=pkg1 n1->n2 epoch=8 cluster=c1 seq=12: n1 left the cluster" in args
    assert run("syslog.sh", tmp_path, CM_ALERT_KIND="node_failed").returncode == 0
    assert "-p daemon.warning" in (tmp_path / "logger.args").read_text()


def test_mail_goes_to_the_recipient_through_sendmail(tmp_path: Path) -> None:
    stand_in(tmp_path / "bin", "sendmail", tmp_path / "sendmail")
    done = run("mail.sh", tmp_path, CM_ALERT_RECIPIENT="ops@example.com")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sendmail.args").read_text().split() == ["-i", "--", "ops@example.com"]
    mail = (tmp_path / "sendmail.stdin").read_text()
    assert "Subject: [c1] package_moved pkg1 on n2" in mail and "CM_ALERT_EPOCH=8" in mail
    missing = run("mail.sh", tmp_path)
    assert missing.returncode == 1 and "no ALERT_RECIPIENT" in missing.stderr


def test_mail_without_sendmail_says_what_to_install(tmp_path: Path) -> None:
    if Path("/usr/sbin/sendmail").exists():
        pytest.skip("this host has /usr/sbin/sendmail: the case cannot arise here")
    (tmp_path / "bin").mkdir()
    env = {"PATH": str(tmp_path / "bin"), **EVENT, "CM_ALERT_RECIPIENT": "ops@example.com"}
    result = subprocess.run(
        ["/bin/sh", str(ALERTS / "mail.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1 and "install a mail transfer agent" in result.stderr


def test_webhook_posts_the_event_as_json(tmp_path: Path) -> None:
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        env = {**os.environ, **EVENT, "CM_ALERT_RECIPIENT": url}
        done = subprocess.run(
            [str(ALERTS / "webhook.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        thread.join(10)
    finally:
        server.server_close()
    assert done.returncode == 0, done.stderr
    (body,) = received
    assert body["kind"] == "package_moved" and body["old_state"] == "n1"
    assert body["recipient"] == url
    refused = run("webhook.py", tmp_path, CM_ALERT_RECIPIENT="ops@example.com")
    assert refused.returncode == 1 and "not an http(s) URL" in refused.stderr
