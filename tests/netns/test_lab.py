"""The lab itself: isolation, faults and cleanup behave as the tests rely on."""

import subprocess
import time
from pathlib import Path

import pytest

from tests.netns.lab import NETNS_ETC, STATE_DIR, Lab


def reachable(lab: Lab, src: str, dst_address: str) -> bool:
    result = lab.run(src, ["ping", "-c", "1", "-W", "1", dst_address], timeout=10)
    return result.returncode == 0


def reachable_soon(lab: Lab, src: str, dst_address: str, within: float = 5.0) -> bool:
    """Reachable by some ping within the time: a repaired path may first need ARP."""
    deadline = time.monotonic() + within
    while not reachable(lab, src, dst_address):
        if time.monotonic() > deadline:
            return False
    return True


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


@pytest.fixture
def lab():
    with Lab() as lab:
        lab.build(["a", "b", "c"], networks=("lan", "hb", "standby"))
        yield lab


def test_hosts_have_names_addresses_and_private_mounts(lab: Lab, tmp_path: Path) -> None:
    a = lab.run("a", ["sh", "-c", "hostname; getent hosts b; ls /sys/class/net"])
    assert a.returncode == 0, a.stderr
    name, hosts_line, *links = a.stdout.split("\n")
    assert name == "a"
    assert hosts_line.split() == ["198.18.0.11", "b"]
    assert {"eth0", "eth1", "eth2", "lo"} <= set(links)
    target = tmp_path / "mnt"
    target.mkdir()
    assert lab.run("a", ["mount", "-t", "tmpfs", "labtest", str(target)]).returncode == 0
    assert "labtest" in lab.run("a", ["findmnt", str(target)]).stdout
    assert lab.run("b", ["findmnt", str(target)]).returncode != 0
    outside = subprocess.run(["findmnt", str(target)], capture_output=True, check=False)
    assert outside.returncode != 0


def test_networks_connect_every_host(lab: Lab) -> None:
    assert reachable(lab, "a", "198.18.0.12")
    assert reachable(lab, "a", "198.18.1.12")
    assert reachable(lab, "client", "198.18.0.10")


def test_cut_both_ways_then_heal(lab: Lab) -> None:
    lab.cut("a", "b")
    assert not reachable(lab, "a", "198.18.0.11")
    assert not reachable(lab, "b", "198.18.0.10")
    assert not reachable(lab, "a", "198.18.1.11")
    assert reachable(lab, "a", "198.18.0.12")
    lab.heal()
    assert reachable(lab, "a", "198.18.0.11")


def test_cut_one_network_only(lab: Lab) -> None:
    lab.cut("a", "b", nets=["hb"])
    assert not reachable(lab, "a", "198.18.1.11")
    assert reachable(lab, "a", "198.18.0.11")


def test_one_way_cut(lab: Lab) -> None:
    """a's packets to b are lost; b's reach a (ping replies do not, so a->b fails
    and b->a fails too, but a sees b's packets arrive)."""
    lab.cut("a", "b", one_way=True)
    assert not reachable(lab, "a", "198.18.0.11")
    sniff = lab.run("a", ["nft", "list", "table", "inet", "cmlab"])
    assert "output" in sniff.stdout and "ip daddr 198.18.0.11 drop" in sniff.stdout
    assert "ip saddr" not in sniff.stdout


def test_lossy_link_loses_some(lab: Lab) -> None:
    lab.cut("a", "b", loss_percent=50)
    result = lab.run("a", ["ping", "-c", "40", "-i", "0.01", "-W", "1", "198.18.0.11"], timeout=30)
    received = int(result.stdout.split(" received")[0].rsplit(" ", 1)[1])
    assert 0 < received < 40


def test_detach_and_link_down(lab: Lab) -> None:
    lab.detach("b")
    assert not reachable(lab, "a", "198.18.0.11")
    assert "state UP" in lab.run("b", ["ip", "link", "show", "eth0"]).stdout
    lab.attach("b")
    assert reachable_soon(lab, "a", "198.18.0.11")
    lab.link_down("c", "hb")
    assert not reachable(lab, "a", "198.18.1.12")
    assert reachable(lab, "a", "198.18.0.12")


def test_close_removes_everything() -> None:
    lab = Lab()
    lab.build(["x"])
    process = lab.start("x", ["sleep", "300"], {}, Path("/dev/null"))
    lab.pause(process)
    lab.close()
    assert process.poll() is not None
    assert not any(n.startswith(lab.prefix) for n in namespaces())
    assert not (STATE_DIR / lab.prefix).exists()
    assert not any(p.name.startswith(lab.prefix) for p in NETNS_ETC.glob("*"))
