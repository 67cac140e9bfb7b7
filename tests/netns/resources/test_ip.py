"""Floating IPs on lab hosts: placement, duplicate-address refusal, gratuitous ARP
seen by the client, monitoring and stop-now removal."""

import itertools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.resources.ip import FloatingIP
from tests.netns.lab import Lab
from tests.netns.resources.conftest import (
    has_address,
    host_addresses,
    host_env,
    in_host,
    wait_for,
)

VIP = "198.18.0.100"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        lab.build(["a", "b"], networks=("lan", "hb"))
        yield lab


def mac_of(lab: Lab, host: str, interface: str = "eth0") -> str:
    out = lab.run(host, ["ip", "-j", "link", "show", interface]).stdout
    return str(json.loads(out)[0]["address"])


def test_placement_monitor_and_stop(lab: Lab) -> None:
    code = """
    import subprocess
    from cluster.resources.ip import FloatingIP
    async def main():
        ctx = context()
        hb = FloatingIP("198.18.1.100", arp_count=1)
        lan = FloatingIP("198.18.0.100", subnet="198.18.0.0", arp_count=1)
        await hb.start(ctx)
        await lan.start(ctx)
        result["actions"] = [a.interface for r in (hb, lan) for a in r.stop_now_actions()]
        result["healthy"] = [(await r.monitor(ctx)).ok for r in (hb, lan)]
        subprocess.run(["ip", "addr", "del", "198.18.1.100/24", "dev", "eth1"], check=True)
        result["after_del"] = (await hb.monitor(ctx)).reason
        subprocess.run(["ip", "link", "set", "eth0", "down"], check=True)
        result["link_down"] = (await lan.monitor(ctx)).reason
        try:
            await FloatingIP("198.18.0.101", arp_count=1).start(ctx)
        except ResourceError as exc:
            result["start_link_down"] = [str(exc), exc.recovery.value]
        subprocess.run(["ip", "link", "set", "eth0", "up"], check=True)
        await hb.stop(ctx)
        await lan.stop(ctx)
        result["stopped"] = [(await r.monitor(ctx)).reason for r in (hb, lan)]
        try:
            await FloatingIP("198.18.7.1").start(ctx)
        except ResourceError as exc:
            result["nowhere"] = [str(exc), exc.recovery.value]
    asyncio.run(main())
    """
    before = host_addresses(lab, "a")
    result = in_host(lab, "a", code)
    assert result["actions"] == ["eth1", "eth0"]
    assert result["healthy"] == [True, True]
    assert result["after_del"] == "198.18.1.100 is no longer on eth1 nor elsewhere"
    assert result["link_down"] == "198.18.0.100: link eth0 is down"
    assert result["start_link_down"] == [
        "a subnet containing 198.18.0.101 is on eth0 here, whose link is down (and no "
        "standby interface took it over)",
        "hard",
    ]
    assert result["stopped"] == ["198.18.1.100 is not started", "198.18.0.100 is not started"]
    assert result["nowhere"] == [
        "no interface of this node has a stationary address in a subnet containing 198.18.7.1",
        "hard",
    ]
    assert host_addresses(lab, "a") == before


def test_added_as_secondary_next_to_the_stationary_address(lab: Lab) -> None:
    code = """
    from cluster.resources.ip import FloatingIP
    asyncio.run(FloatingIP(ARGS["vip"], arp_count=1).start(context()))
    """
    in_host(lab, "a", code, vip=VIP)
    (info,) = [i for i in host_addresses(lab, "a")["eth0"] if i["local"] == VIP]
    assert info["prefixlen"] == 24 and info.get("secondary") is True
    code = """
    from cluster.resources.ip import FloatingIP
    asyncio.run(FloatingIP(ARGS["vip"]).stop(context()))
    """
    in_host(lab, "a", code, vip=VIP)
    assert has_address(lab, "a", VIP) is None


def test_duplicate_address_is_refused(lab: Lab) -> None:
    assert lab.run("b", ["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"]).returncode == 0
    code = """
    from cluster.resources.ip import FloatingIP
    ip = FloatingIP(ARGS["vip"])
    t0 = time.monotonic()
    try:
        asyncio.run(ip.start(context()))
    except ResourceError as exc:
        result["error"] = str(exc)
    result["took"] = time.monotonic() - t0
    result["actions"] = len(ip.stop_now_actions())
    """
    result = in_host(lab, "a", code, vip=VIP)
    assert result["error"] == (
        f"{VIP} is already in use on the network: {mac_of(lab, 'b')} answered the "
        "duplicate-address probe on eth0; not adding it"
    )
    assert result["actions"] == 0
    assert result["took"] < 0.5  # the answer comes at the first probe
    assert has_address(lab, "a", VIP) is None
    assert has_address(lab, "b", VIP) == "eth0"


def test_gratuitous_arp_moves_the_clients_neighbour_entry(lab: Lab, tmp_path: Path) -> None:
    """The client knows the address at b's MAC; b lets it go, a takes it: the client's
    entry points at a after a's gratuitous ARPs, without the client asking."""
    assert lab.run("b", ["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"]).returncode == 0
    assert lab.run("client", ["ping", "-c", "1", "-W", "2", VIP]).returncode == 0
    assert mac_of(lab, "b") in lab.run("client", ["ip", "neigh", "show", VIP]).stdout
    assert lab.run("b", ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"]).returncode == 0

    watch_log = tmp_path / "arpwatch.log"
    command = [sys.executable, "-m", "tests.netns.resources.arpwatch", "eth0", "2.5"]
    watcher = lab.start("client", command, host_env(), watch_log)
    wait_for(lambda: "READY" in watch_log.read_text(), 10, "the ARP watcher")
    code = """
    from cluster.resources.ip import FloatingIP
    async def main():
        ip = FloatingIP(ARGS["vip"], arp_count=3, arp_interval=0.2)
        result["began"] = time.monotonic()
        await ip.start(context())
        result["started"] = time.monotonic()
        await asyncio.sleep(0.6)
        result["announced"] = ip.announced_at
    asyncio.run(main())
    """
    result = in_host(lab, "a", code, vip=VIP)
    watcher.wait(10)
    a_mac = mac_of(lab, "a")
    neigh = lab.run("client", ["ip", "neigh", "show", VIP]).stdout
    assert f"lladdr {a_mac}" in neigh, neigh

    packets = [json.loads(x) for x in watch_log.read_text().splitlines() if x.startswith("{")]
    from_a = [p for p in packets if p["sender_mac"] == a_mac]
    probes = [p for p in from_a if p["sender_ip"] == "0.0.0.0" and p["target_ip"] == VIP]
    garps = [p for p in from_a if p["sender_ip"] == VIP and p["target_ip"] == VIP]
    assert len(probes) == FloatingIP.probe_count == 2 and len(garps) == 3, from_a
    assert all(p["op"] == 1 for p in garps)
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(garps)]
    assert all(0.18 < g < 0.35 for g in gaps), gaps
    first = garps[0]["t"] - result["began"]
    print(
        f"\nfloating IP start (probe + add + first GARP): "
        f"{(result['started'] - result['began']) * 1e3:.0f} ms; first GARP seen by the "
        f"client {first * 1e3:.0f} ms after start began; GARP gaps "
        f"{', '.join(f'{g * 1e3:.0f}' for g in gaps)} ms"
    )
    assert first < 0.5


def test_stop_now_removes_the_address(lab: Lab) -> None:
    code = """
    from cluster.resources import stopnow
    from cluster.resources.ip import FloatingIP
    ip = FloatingIP(ARGS["vip"], arp_count=1)
    asyncio.run(ip.start(context()))
    plan = stopnow.build_plan("a", ip.stop_now_actions())
    report = stopnow.execute(plan)
    result["first"] = [report.clean, report.outcomes[0].detail, report.elapsed_ns]
    result["again"] = stopnow.execute(plan).outcomes[0].detail
    """
    t0 = time.monotonic()
    result = in_host(lab, "a", code, vip=VIP)
    assert time.monotonic() - t0 < 10
    clean, detail, elapsed_ns = result["first"]
    assert clean and detail == "deleted from eth0" and elapsed_ns < 50e6
    assert result["again"] == "not present"
    assert has_address(lab, "a", VIP) is None


def test_follows_its_address_to_another_interface(lab: Lab) -> None:
    """Local LAN failover moves a floating IP with its subnet to a standby interface:
    the resource keeps monitoring it there, and stop and stop-now remove it there
    (the plan still names the interface it was put on)."""
    code = """
    import subprocess
    from cluster.resources import stopnow
    from cluster.resources.ip import FloatingIP
    def move(to, away):
        subprocess.run(["ip", "addr", "add", ARGS["vip"] + "/24", "dev", to], check=True)
        subprocess.run(["ip", "addr", "del", ARGS["vip"] + "/24", "dev", away], check=True)
    async def main():
        ctx = context()
        ip = FloatingIP(ARGS["vip"], arp_count=1)
        await ip.start(ctx)
        plan = stopnow.build_plan("a", ip.stop_now_actions())
        move("eth1", "eth0")
        result["moved"] = [(await ip.monitor(ctx)).ok, ip.stop_now_actions()[0].interface]
        subprocess.run(["ip", "link", "set", "eth1", "down"], check=True)
        result["down"] = (await ip.monitor(ctx)).reason
        subprocess.run(["ip", "link", "set", "eth1", "up"], check=True)
        result["plan"] = [a.interface for a in plan.actions]
        result["stop_now"] = stopnow.execute(plan).outcomes[0].detail
        await ip.start(ctx)
        move("eth1", "eth0")
        await ip.stop(ctx)
    asyncio.run(main())
    """
    before = host_addresses(lab, "a")
    result = in_host(lab, "a", code, vip=VIP)
    assert result["moved"] == [True, "eth1"]
    assert result["down"] == f"{VIP}: link eth1 is down"
    assert result["plan"] == ["eth0"]
    assert result["stop_now"] == "deleted from eth1"
    assert host_addresses(lab, "a") == before


def test_a_package_without_local_lan_failover_avoids_standbys(lab: Lab) -> None:
    """`avoid` (the node's standby interfaces, for a package that does not allow local
    LAN failover): a subnet found only there is refused, and an address moved there
    is a failure."""
    code = """
    import subprocess
    from cluster.resources.ip import FloatingIP
    async def main():
        ctx = context()
        try:
            await FloatingIP(ARGS["vip"], avoid=frozenset({"eth0"})).start(ctx)
        except ResourceError as exc:
            result["refused"] = [str(exc), exc.recovery.value]
        ip = FloatingIP(ARGS["vip"], arp_count=1, avoid=frozenset({"eth1"}))
        await ip.start(ctx)
        subprocess.run(["ip", "addr", "add", ARGS["vip"] + "/24", "dev", "eth1"], check=True)
        subprocess.run(["ip", "addr", "del", ARGS["vip"] + "/24", "dev", "eth0"], check=True)
        result["moved"] = (await ip.monitor(ctx)).reason
        await ip.stop(ctx)
    asyncio.run(main())
    """
    result = in_host(lab, "a", code, vip=VIP)
    assert result["refused"] == [
        f"a subnet containing {VIP} is carried by the standby interface eth0 here (its "
        "primary failed) and the package does not allow LOCAL_LAN_FAILOVER",
        "hard",
    ]
    assert result["moved"] == (
        f"{VIP} is on the standby interface eth1, and the package does not allow LOCAL_LAN_FAILOVER"
    )
    assert has_address(lab, "a", VIP) is None
