"""The package programs of tests/netns/apps on lab hosts: the TCP service answers with
its host and PID, the probe sees a floating address move, the writer's file check
tells one writer at a time from two at once."""

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.apps import writer
from tests.netns.lab import Lab
from tests.support import host_python

APPS = Path(__file__).resolve().parent / "apps"
PYTHON = host_python()  # the lab apps run as a host would run them
FLOATING = "198.18.0.100"
PORT = 8080


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        lab.build(["a", "b"])
        yield lab


def answer(lab: Lab, host: str, address: str) -> str:
    code = (
        "import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 1); "
        "print(s.recv(100).decode(), end='')"
    )
    return lab.run(host, [PYTHON, "-c", code, address, str(PORT)], timeout=10).stdout


def wait_answer(lab: Lab, host: str, address: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while not (text := answer(lab, host, address)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer from {address} within {timeout} s")
        time.sleep(0.05)
    return text


def test_writer_check_accepts_runs_one_after_another() -> None:
    text = "a 0\na 1\na 2\nb 0\nb 1\na 0\n"
    assert writer.problems(text) == []
    assert writer.runs(text) == [("a", 3), ("b", 2), ("a", 1)]
    assert writer.problems("a 0\na 1\na 2") == []  # unterminated last line


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a 0\na 1\nb 0\na 2\n", "line 4: a 2 follows b 0"),  # a still ran after b began
        ("a 0\nb 0\nb 1\na 1\nb 2\n", "line 4: a 1 follows b 1"),
        ("a 0\na 1\na 0\na 2\n", "line 4: a 2 follows a 0"),  # two runs on one host
        ("a 0\na 2\n", "line 2: a 2 follows a 1"[:10]),  # a lost line
        ("a 0\na 1b 0\nb 1\n", "line 2: not '<host> <seq>'"),
        ("b 3\n", "line 1: b 3 follows nothing"),
    ],
)
def test_writer_check_finds_two_writers(text: str, problem: str) -> None:
    found = writer.problems(text)
    assert found and found[0].startswith(problem), found


def test_service_answers_with_host_and_pid_and_probe_follows_a_move(
    lab: Lab, tmp_path: Path
) -> None:
    services = {
        h: lab.start(h, [PYTHON, str(APPS / "tcp_service.py"), str(PORT)], {}, tmp_path / h)
        for h in ("a", "b")
    }
    assert wait_answer(lab, "client", "198.18.0.10") == f"a {services['a'].pid}\n"
    assert wait_answer(lab, "client", "198.18.0.11") == f"b {services['b'].pid}\n"
    lab.run("a", ["ip", "addr", "add", f"{FLOATING}/24", "dev", "eth0"])
    probe_log = tmp_path / "probe.json"
    probe = lab.start(
        "client", [PYTHON, str(APPS / "probe.py"), f"{FLOATING}:{PORT}"], {}, probe_log
    )
    time.sleep(0.5)
    lab.run("a", ["ip", "addr", "del", f"{FLOATING}/24", "dev", "eth0"])
    time.sleep(0.3)
    lab.run("b", ["ip", "addr", "add", f"{FLOATING}/24", "dev", "eth0"])
    arp = lab.run("b", ["arping", "-U", "-c", "1", "-I", "eth0", FLOATING])
    assert arp.returncode == 0, arp.stderr
    time.sleep(0.5)
    probe.send_signal(signal.SIGTERM)
    assert probe.wait(5) == 0
    summary = json.loads(probe_log.read_text().splitlines()[-1])
    a, b = f"a {services['a'].pid}", f"b {services['b'].pid}"
    assert summary["hosts"] == ["a", "b"] and summary["servers"] == [a, b]
    (outage,) = summary["outages"]
    assert outage["before"] == a and outage["after"] == b
    assert 0.3 <= outage["seconds"] < 1.5, outage
    assert outage["end"] - outage["start"] == pytest.approx(outage["seconds"], abs=0.05)
    assert summary["answered"] > 40 and summary["failed"] > 0
    assert summary["waiting_since"] is None


def test_probe_reports_an_outage_that_has_not_ended(lab: Lab, tmp_path: Path) -> None:
    service = lab.start("a", [PYTHON, str(APPS / "tcp_service.py"), str(PORT)], {}, tmp_path / "s")
    wait_answer(lab, "client", "198.18.0.10")
    log = tmp_path / "probe.json"
    probe = lab.start(
        "client",
        [PYTHON, str(APPS / "probe.py"), f"198.18.0.10:{PORT}", "--duration", "1"],
        {},
        log,
    )
    time.sleep(0.4)
    lab.kill(service)
    assert probe.wait(5) == 0
    summary = json.loads(log.read_text().splitlines()[-1])
    assert summary["outages"] == [] and summary["waiting_since"] is not None
    assert summary["servers"] == [f"a {service.pid}"]


def test_writer_appends_its_host_and_sequence(lab: Lab, tmp_path: Path) -> None:
    data = tmp_path / "data.log"
    for host in ("a", "b"):
        process = lab.start(host, [PYTHON, str(APPS / "writer.py"), str(data)], {}, tmp_path / host)
        deadline = time.monotonic() + 5
        while f"{host} 0\n" not in (data.read_text() if data.exists() else ""):
            assert time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.01)
        time.sleep(0.4)
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
    text = data.read_text()
    assert writer.problems(text) == []
    (host_a, lines_a), (host_b, lines_b) = writer.runs(text)
    assert (host_a, host_b) == ("a", "b")
    assert 10 <= lines_a <= 25 and 10 <= lines_b <= 25, (lines_a, lines_b)  # 20 ms apart
