"""The pure parts of the resource drivers, the stop-now plan and the guard protocol."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.guard import protocol
from cluster.network import arp
from cluster.resources import procs, stopnow
from cluster.resources.base import ResourceError
from cluster.resources.service import UNLIMITED, parse_restart

PLAN = stopnow.build_plan(
    "a",
    [
        stopnow.DeactivateVG("pkg1", "vg vg01", "vg01", "a", ("/dev/loop3",)),
        stopnow.Unmount("pkg1", "fs /data", "/data", "/dev/vg01/data"),
        stopnow.DeleteAddress("pkg1", "ip 198.18.0.100", "eth0", "198.18.0.100", 24),
        stopnow.OcfStop(
            "pkg1",
            "ocf x",
            "/usr/lib/ocf/resource.d/heartbeat/Dummy",
            {"OCF_RESKEY_state": "/run/x"},
            1.5,
        ),
        stopnow.KillGroup("pkg1", "service web", 4242, 1234567),
        stopnow.KillGroup("pkg2", "service db", 4343, 7654321),
    ],
)


def test_plan_orders_by_phase_keeping_callers_order() -> None:
    assert [a.kind for a in PLAN.actions] == [
        "kill_group",
        "kill_group",
        "delete_address",
        "ocf_stop",
        "unmount",
        "deactivate_vg",
    ]
    assert [a.label for a in PLAN.actions[:2]] == ["service web", "service db"]


def test_plan_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "state" / "stopnow.json"
    stopnow.save_plan(path, PLAN)
    assert path.stat().st_mode & 0o777 == 0o600
    assert stopnow.load_plan(path) == PLAN
    assert json.loads(path.read_text())["actions"][0] == {
        "kind": "kill_group",
        "package": "pkg1",
        "label": "service web",
        "pgid": 4242,
        "start_time": 1234567,
    }


def test_missing_and_broken_plans(tmp_path: Path) -> None:
    assert stopnow.load_plan(tmp_path / "none.json", "a") == stopnow.Plan("a")
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "node": "a", "actions": [{"kind": "reboot"}]}')
    with pytest.raises(stopnow.PlanError, match=f"{broken}: not a stop-now plan"):
        stopnow.load_plan(broken)
    broken.write_text('{"version": 9, "node": "a", "actions": []}')
    with pytest.raises(stopnow.PlanError, match="unknown plan version 9"):
        stopnow.load_plan(broken)


def test_execute_never_raises_and_goes_on(tmp_path: Path) -> None:
    plan = stopnow.build_plan(
        "a",
        [
            stopnow.DeleteAddress("p", "bad ip", "lo", "not-an-address", 24),
            stopnow.DeleteAddress("p", "absent", "cmnosuch0", "198.18.0.1", 24),
            stopnow.Unmount("p", "fs", str(tmp_path / "not-mounted"), "/dev/null"),
            stopnow.OcfStop("p", "absent agent", str(tmp_path / "agent"), {}, 0.5),
        ],
    )
    report = stopnow.execute(plan)
    assert [(o.label, o.ok) for o in report.outcomes] == [
        ("bad ip", False),
        ("absent", True),
        ("absent agent", False),
        ("fs", True),
    ]
    assert report.outcomes[0].detail.startswith("OSError")
    assert report.outcomes[1].detail == "not present"
    assert report.outcomes[2].detail.startswith("FileNotFoundError")
    assert report.outcomes[3].detail == "not mounted"
    assert not report.clean and report.elapsed_ns >= sum(o.elapsed_ns for o in report.outcomes)
    assert json.loads(json.dumps(report.to_dict()))["outcomes"][1]["detail"] == "not present"


def test_spawn_wait_times_out_and_kills(tmp_path: Path) -> None:
    assert stopnow.spawn_wait(["/bin/sh", "-c", "exit 3"], {}, 5) == 3
    marker = tmp_path / "child"
    argv = ["/bin/sh", "-c", f"sleep 30 & echo $! > {marker}; wait"]
    assert stopnow.spawn_wait(argv, {}, 1.0) is None
    child = int(marker.read_text())
    # SIGKILL is delivered asynchronously: the grandchild dies when next scheduled.
    deadline = time.monotonic() + 5
    while procs.alive(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not procs.alive(child)  # the whole group went


def test_mountinfo_escapes() -> None:
    assert procs._unescape(r"/mnt/with\040space\011tab\134slash") == "/mnt/with space\ttab\\slash"
    root = procs.mount_at("/")
    assert root is not None and root.mount_point == "/"
    assert procs.mount_at("/proc") is not None and procs.mount_at("/proc/nothing") is None


def test_read_stat_handles_odd_command_names(tmp_path: Path) -> None:
    odd = tmp_path / "a b) c"
    odd.symlink_to("/bin/sleep")
    process = subprocess.Popen([str(odd), "30"], start_new_session=True)
    try:
        stat = procs.read_stat(process.pid)
        # D: the new program may still be loading.
        assert stat is not None and stat.pgid == process.pid and stat.state in "RSD"
        assert procs.group_is_ours(process.pid, stat.start_time)
        assert not procs.group_is_ours(process.pid, stat.start_time + 1)
    finally:
        process.kill()
        process.wait()
    assert procs.read_stat(process.pid) is None


def test_arp_packets_and_conflicts() -> None:
    me, other = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    vip = socket.inet_aton("198.18.0.100")
    packet = arp.ArpPacket(arp.ARPOP_REPLY, other, vip, me, socket.inet_aton("198.18.0.10"))
    assert arp.ArpPacket.unpack(packet.pack() + arp.PAD) == packet
    assert arp.ArpPacket.unpack(b"\x00" * 10) is None
    assert arp.conflict(packet, vip, me)  # someone answers for it
    assert not arp.conflict(packet, vip, other)  # our own packet
    probe = arp.ArpPacket(arp.ARPOP_REQUEST, other, arp.ZERO_IP, arp.ZERO_MAC, vip)
    assert arp.conflict(probe, vip, me)  # someone probes for it at the same time
    unrelated = arp.ArpPacket(
        arp.ARPOP_REQUEST,
        other,
        socket.inet_aton("198.18.0.11"),
        arp.ZERO_MAC,
        socket.inet_aton("198.18.0.12"),
    )
    assert not arp.conflict(unrelated, vip, me)
    assert arp.mac_text(me) == "02:00:00:00:00:01"


@pytest.mark.parametrize(
    ("text", "value"),
    [("none", 0), ("", 0), ("3", 3), ("-r 2", 2), ("unlimited", UNLIMITED), ("-R", UNLIMITED)],
)
def test_parse_restart(text: str, value: int | None) -> None:
    assert parse_restart(text) == value


def test_parse_restart_rejects_nonsense() -> None:
    with pytest.raises(ResourceError, match="SERVICE_RESTART 'often'"):
        parse_restart("often")


def test_guard_records() -> None:
    data = protocol.encode(protocol.RENEW, 123) + protocol.encode(protocol.DISARM)
    records, rest = protocol.decode(data + data[:5])
    assert records == [(protocol.RENEW, 123), (protocol.DISARM, 0)] and rest == data[:5]
    assert protocol.RECORD.size == 16  # far below PIPE_BUF: one write is atomic


def test_guard_and_stop_now_import_nothing_heavy() -> None:
    """The guard must start fast and keep working when cmcld's stack is sick."""
    code = (
        "import sys, cluster.guard.main, cluster.resources.stopnow\n"
        "heavy = {'asyncio', 'grpc', 'cryptography', 'google.protobuf', 'subprocess',"
        " 'logging', 'threading', 'concurrent'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
