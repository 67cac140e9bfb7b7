"""The lab itself: isolation, faults and cleanup behave as the tests rely on."""

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.lab import NETNS_ETC, STATE_DIR, Lab, SharedDisk, leftovers


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


# -- shared disks ----------------------------------------------------------------------

MMP_CLEAN = 0xFF4D4D50  # EXT4_MMP_SEQ_CLEAN


def mmp_sequence(disk: SharedDisk) -> int:
    out = subprocess.run(
        ["debugfs", "-R", "dump_mmp", str(disk.image)], capture_output=True, text=True, check=True
    ).stdout
    (line,) = [x for x in out.splitlines() if x.startswith("sequence:")]
    return int(line.split()[1], 16)


def loop_devices() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def disk_lab(tmp_path: Path) -> Iterator[tuple[Lab, SharedDisk, Path]]:
    with Lab() as lab:
        lab.build(["a", "b"])
        disk = lab.shared_disk("data", 32, directory=tmp_path)
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        yield lab, disk, mnt


def test_shared_disk_is_one_path_on_every_host(disk_lab: tuple[Lab, SharedDisk, Path]) -> None:
    lab, disk, _ = disk_lab
    assert disk.path == f"/dev/{lab.prefix}-data"
    assert set(disk.devices) == {"a", "b"}
    assert disk.devices["a"] != disk.devices["b"]
    for host, device in disk.devices.items():
        seen = lab.run(host, ["stat", "-L", "-c", "%t:%T", disk.path]).stdout
        own = subprocess.run(
            ["stat", "-c", "%t:%T", device], capture_output=True, text=True, check=True
        )
        assert seen == own.stdout, host
        assert lab.run(host, ["blkid", "-o", "value", "-s", "TYPE", disk.path]).stdout == "ext4\n"
        assert f"{device}: " in loop_devices() and str(disk.image) in loop_devices()
    # Outside the hosts the name is an empty placeholder file, not a device.
    assert Path(disk.path).stat().st_size == 0 and not Path(disk.path).is_block_device()
    features = subprocess.run(
        ["dumpe2fs", "-h", str(disk.image)], capture_output=True, text=True, check=True
    ).stdout
    assert "mmp" in features and "MMP update interval:      1" in features


def test_mmp_refuses_a_second_host_until_the_first_unmounts(
    disk_lab: tuple[Lab, SharedDisk, Path],
) -> None:
    lab, disk, mnt = disk_lab
    t0 = time.monotonic()
    first = lab.run("a", ["mount", disk.path, str(mnt)])
    clean_mount = time.monotonic() - t0
    assert first.returncode == 0, first.stderr
    assert lab.run("a", ["sh", "-c", f"echo from-a > {mnt}/owner"]).returncode == 0
    assert mmp_sequence(disk) != MMP_CLEAN  # a's MMP thread is updating it
    t0 = time.monotonic()
    second = lab.run("b", ["mount", disk.path, str(mnt)])
    refused_after = time.monotonic() - t0
    assert second.returncode != 0
    assert lab.run("b", ["findmnt", str(mnt)]).returncode != 0
    # 2 * max(2 * update interval, 5 s) + 1 s, see MMP_UPDATE_INTERVAL.
    assert 10.5 < refused_after < 14, refused_after
    assert lab.run("a", ["umount", str(mnt)]).returncode == 0
    assert mmp_sequence(disk) == MMP_CLEAN
    t0 = time.monotonic()
    assert lab.run("b", ["mount", disk.path, str(mnt)]).returncode == 0
    clean_takeover = time.monotonic() - t0
    assert lab.run("b", ["cat", f"{mnt}/owner"]).stdout == "from-a\n"
    assert clean_mount < 2 and clean_takeover < 2, (clean_mount, clean_takeover)
    print(
        f"MMP: clean mount {clean_mount:.3f} s, refusal {refused_after:.1f} s, "
        f"mount after a clean unmount elsewhere {clean_takeover:.3f} s"
    )


def test_crash_drops_the_host_and_leaves_mmp_unclean(
    disk_lab: tuple[Lab, SharedDisk, Path], tmp_path: Path
) -> None:
    lab, disk, mnt = disk_lab
    assert lab.run("a", ["mount", disk.path, str(mnt)]).returncode == 0
    lab.run("a", ["ip", "addr", "add", "198.18.0.99/24", "dev", "eth0"])
    # A process the lab started and one it did not (a child left behind as an orphan).
    sleeper = lab.start("a", ["sleep", "300"], {}, tmp_path / "sleep.log")
    lab.run("a", ["sh", "-c", f"cd {mnt} && (setsid sleep 300 >/dev/null 2>&1 &)"])
    assert len(lab.pids_in("a")) == 2
    assert reachable(lab, "client", "198.18.0.99")
    lab.crash("a")
    assert sleeper.poll() is not None and lab.pids_in("a") == []
    assert not reachable(lab, "client", "198.18.0.10")
    assert "198.18.0.99" not in lab.run("a", ["ip", "-4", "addr"]).stdout
    assert lab.run("a", ["findmnt", str(mnt)]).returncode != 0
    assert mmp_sequence(disk) != MMP_CLEAN  # as a's last MMP update left it
    lab.boot("a")
    assert reachable_soon(lab, "client", "198.18.0.10")
    fsck = subprocess.run(
        ["e2fsck", "-fn", str(disk.image)], capture_output=True, text=True, check=False
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


@pytest.mark.slow
def test_mount_after_a_crash_waits_out_mmp(disk_lab: tuple[Lab, SharedDisk, Path]) -> None:
    lab, disk, mnt = disk_lab
    assert lab.run("a", ["mount", disk.path, str(mnt)]).returncode == 0
    lab.crash("a")
    t0 = time.monotonic()
    took = lab.run("b", ["mount", disk.path, str(mnt)])
    elapsed = time.monotonic() - t0
    assert took.returncode == 0, took.stderr
    assert 21 < elapsed < 26, elapsed  # twice 2 * 5 s + 1 s
    print(f"MMP: mount after the holder crashed {elapsed:.1f} s")


def test_close_detaches_loop_devices_even_while_mounted(tmp_path: Path) -> None:
    lab = Lab()
    try:
        lab.build(["x", "y"], client=False)
        disk = lab.shared_disk("d", 16, directory=tmp_path)
        (tmp_path / "m").mkdir()
        assert lab.run("x", ["mount", disk.path, str(tmp_path / "m")]).returncode == 0
        busy = lab.start(
            "x", ["sh", "-c", f"cd {tmp_path}/m && exec sleep 300"], {}, Path("/dev/null")
        )
    finally:
        lab.close()
    assert busy.poll() is not None
    attached = loop_devices()
    assert not any(f"{d}: " in attached for d in disk.devices.values())
    assert str(disk.image) not in attached
    assert not Path(disk.path).exists()


def test_leftovers_sees_a_live_lab_and_nothing_once_it_closed() -> None:
    lab = Lab()
    try:
        lab.build(["x"])
        process = lab.start("x", ["sleep", "300"], {}, Path("/dev/null"))
        # a process the lab did not start, inside the host: found by its namespace
        stray = lab.run("x", ["sh", "-c", "setsid sleep 301 >/dev/null 2>&1 & echo $!"])
        found = "\n".join(leftovers([lab.footprint]))
        assert f"/run/netns/{lab.prefix}-x" in found
        assert f"process {process.pid}: sleep 300" in found
        assert f"process {stray.stdout.strip()}: sleep 301" in found
        assert f"mount: {STATE_DIR / lab.prefix}" in found
    finally:
        lab.close()
    assert leftovers([lab.footprint]) == []
