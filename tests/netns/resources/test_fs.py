"""Filesystems on loop devices, mounted from lab hosts' mount namespaces: fsck, mount
failures, busy unmounts, stop-now, and ext4 multi-mount protection."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.lab import Lab
from tests.netns.resources.conftest import Loops, in_host, mounted, wait_for

MKFS = ["mkfs.ext4", "-q", "-F"]
START = """
from cluster.resources.fs import Filesystem
fs = Filesystem(**ARGS)
try:
    asyncio.run(fs.start(context()))
    result["ok"] = True
except ResourceError as exc:
    result["error"] = str(exc)
"""
STOP = """
from cluster.resources.fs import Filesystem
fs = Filesystem(**ARGS)
t0 = time.monotonic()
try:
    asyncio.run(fs.stop(context()))
    result["ok"] = True
except ResourceError as exc:
    result["error"] = str(exc)
result["took"] = time.monotonic() - t0
"""


def uses(pid: int, link: str, path: Path) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/{link}") == str(path)
    except OSError:
        return False


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        lab.build(["a", "b"], client=False)
        yield lab


@pytest.fixture
def mnt(tmp_path: Path) -> Path:
    path = tmp_path / "mnt"
    path.mkdir()
    return path


def test_fsck_failure_refuses_to_mount(lab: Lab, loops: Loops, mnt: Path) -> None:
    image = loops.image("broken", 32, MKFS)
    # Not cleanly unmounted, and a cleared root inode: beyond what `fsck -p` may repair
    # on its own.
    for request in ("clri <2>", "ssv state 0"):
        assert lab.run("a", ["debugfs", "-w", "-R", request, str(image)]).returncode == 0
    device = loops.attach(image)
    result = in_host(
        lab, "a", START, device=device, mount_point=str(mnt), fs_type="ext4", fsck_opt=""
    )
    assert result["error"].startswith(f"fsck of {device} failed (exit 4): ")
    assert "not mounting it" in result["error"]
    assert not mounted(lab, "a", mnt)


def test_fsck_then_mount_with_options(lab: Lab, loops: Loops, mnt: Path) -> None:
    device = loops.attach(loops.image("good", 32, MKFS))
    args = {
        "device": device,
        "mount_point": str(mnt),
        "fs_type": "ext4",
        "fsck_opt": "-p",
        "mount_opt": "-o ro,noatime",
    }
    assert in_host(lab, "a", START, **args) == {"ok": True}
    options = lab.run("a", ["findmnt", "-n", "-o", "OPTIONS", str(mnt)]).stdout
    assert options.startswith("ro,noatime")
    assert not mounted(lab, "b", mnt)  # the host's own mount namespace only
    assert in_host(lab, "a", START, **args) == {"ok": True}  # already mounted: fine
    assert in_host(lab, "a", STOP, **args)["ok"]
    assert not mounted(lab, "a", mnt)


def test_xfs(lab: Lab, loops: Loops, mnt: Path) -> None:
    device = loops.attach(loops.image("xfs", 320, ["mkfs.xfs", "-q", "-f"]))
    args = {"device": device, "mount_point": str(mnt), "fs_type": "xfs", "fsck_opt": ""}
    assert in_host(lab, "a", START, **args) == {"ok": True}
    assert lab.run("a", ["findmnt", "-n", "-o", "FSTYPE", str(mnt)]).stdout.strip() == "xfs"
    assert in_host(lab, "a", STOP, **args)["ok"]
    assert not mounted(lab, "a", mnt)


def test_mount_failures(lab: Lab, loops: Loops, mnt: Path, tmp_path: Path) -> None:
    device = loops.attach(loops.image("plain", 32, MKFS))
    wrong = in_host(lab, "a", START, device=device, mount_point=str(mnt), fs_type="xfs")
    assert wrong["error"].startswith(f"mounting {device} on {mnt} failed: ")
    missing = in_host(lab, "a", START, device=device, mount_point=str(tmp_path / "nope"))
    assert missing["error"] == f"mount point {tmp_path / 'nope'} is not a directory"
    lab.run("a", ["mount", "-t", "tmpfs", "other", str(mnt)])
    taken = in_host(lab, "a", START, device=device, mount_point=str(mnt))
    assert taken["error"] == f"{mnt} already has other mounted on it"


def test_busy_filesystem_is_unmounted_after_killing_its_users(
    lab: Lab, loops: Loops, mnt: Path, tmp_path: Path
) -> None:
    device = loops.attach(loops.image("busy", 32, MKFS))
    args = {"device": device, "mount_point": str(mnt), "fs_type": "ext4", "kill_grace": 0.5}
    assert in_host(lab, "a", START, **args) == {"ok": True}
    log = tmp_path / "users.log"
    polite = lab.start("a", ["sh", "-c", f"cd {mnt} && exec sleep 300"], {}, log)
    stubborn = lab.start(
        "a", ["sh", "-c", f"trap '' TERM; exec 3>{mnt}/held; exec sleep 300"], {}, log
    )
    wait_for(lambda: uses(polite.pid, "cwd", mnt), 5, "the first user")
    wait_for(lambda: uses(stubborn.pid, "fd/3", mnt / "held"), 5, "the second user")
    result = in_host(lab, "a", STOP, **args)
    assert result["ok"], result
    assert 0.5 <= result["took"] < 5
    assert polite.wait(5) == -15  # SIGTERM was enough
    assert stubborn.wait(5) == -9  # ignored SIGTERM: SIGKILL after the grace period
    assert not mounted(lab, "a", mnt)


def test_stop_now_kills_users_and_unmounts(
    lab: Lab, loops: Loops, mnt: Path, tmp_path: Path
) -> None:
    device = loops.attach(loops.image("now", 32, MKFS))
    args = {"device": device, "mount_point": str(mnt), "fs_type": "ext4"}
    assert in_host(lab, "a", START, **args) == {"ok": True}
    user = lab.start(
        "a", ["sh", "-c", f"trap '' TERM; cd {mnt} && exec sleep 300"], {}, tmp_path / "user.log"
    )
    wait_for(lambda: uses(user.pid, "cwd", mnt), 5, "the user")
    code = """
    from cluster.resources import stopnow
    from cluster.resources.fs import Filesystem
    fs = Filesystem(**ARGS)
    fs._active, fs._package = True, "pkg1"
    plan = stopnow.build_plan("a", fs.stop_now_actions())
    report = stopnow.execute(plan)
    result["report"] = report.to_dict()
    result["again"] = stopnow.execute(plan).outcomes[0].detail
    """
    result = in_host(lab, "a", code, **args)
    (outcome,) = result["report"]["outcomes"]
    assert outcome["ok"] and outcome["detail"] == "unmounted after killing 1 user(s)", outcome
    assert outcome["elapsed_ns"] < 500e6
    assert result["again"] == "not mounted"
    assert user.wait(5) == -9
    assert not mounted(lab, "a", mnt)


def test_a_mount_below_forces_a_lazy_detach_which_is_not_clean(
    lab: Lab, loops: Loops, mnt: Path
) -> None:
    """umount fails with EBUSY (another filesystem is mounted below), forcing fails too:
    the mount is detached lazily, and both the driver and stop-now say it was not
    clean, since the filesystem may live on in the kernel."""
    args = {"mount_point": str(mnt), "fs_type": "ext4"}
    code = """
    from cluster.resources import stopnow
    from cluster.resources.fs import Filesystem
    import subprocess
    now = ARGS.pop("now", False)
    fs = Filesystem(**ARGS)
    ctx = context()
    asyncio.run(fs.start(ctx))
    os.mkdir(f"{fs.mount_point}/sub")
    subprocess.run(["mount", "-t", "tmpfs", "below", f"{fs.mount_point}/sub"], check=True)
    if now:
        report = stopnow.execute(stopnow.build_plan("a", fs.stop_now_actions()))
        result["outcome"] = [report.outcomes[0].ok, report.outcomes[0].detail]
    else:
        try:
            asyncio.run(fs.stop(ctx))
        except ResourceError as exc:
            result["error"] = str(exc)
    """
    first = loops.attach(loops.image("lazy1", 32, MKFS))
    result = in_host(lab, "a", code, device=first, **args)
    assert result["error"] == (
        f"{mnt} was detached lazily: still in use by no process we can see (a mount below "
        f"it?); {first} must not be mounted elsewhere until they exit"
    )
    assert not mounted(lab, "a", mnt)
    second = loops.attach(loops.image("lazy2", 32, MKFS))
    result = in_host(lab, "a", code, device=second, now=True, **args)
    assert result["outcome"] == [False, "detached lazily"]
    assert not mounted(lab, "a", mnt)


def test_ext4_mmp_disk_is_refused_while_another_host_has_it(
    lab: Lab, loops: Loops, tmp_path: Path
) -> None:
    """The shared disk as two hosts see it: one image, one loop device per host (one
    loop device shared by two mount namespaces would be one superblock, which MMP
    cannot see). a mounts through the driver; b's mount is refused by MMP (after the
    kernel's MMP wait, about 11 s); once a unmounts, b mounts at once."""
    image = loops.image("shared", 64, [*MKFS, "-O", "mmp", "-E", "mmp_update_interval=1"])
    disk_a, disk_b = loops.attach(image), loops.attach(image)
    mnt_a, mnt_b = tmp_path / "a", tmp_path / "b"
    mnt_a.mkdir()
    mnt_b.mkdir()
    assert in_host(lab, "a", START, device=disk_a, mount_point=str(mnt_a), fs_type="ext4") == {
        "ok": True
    }
    lab.run("a", ["sh", "-c", f"echo from-a > {mnt_a}/owner"])
    t0 = time.monotonic()
    refused = in_host(lab, "b", START, device=disk_b, mount_point=str(mnt_b), fs_type="ext4")
    assert refused["error"].startswith(f"mounting {disk_b} on {mnt_b} failed: ")
    assert time.monotonic() - t0 > 5  # MMP waited for a's updates
    assert not mounted(lab, "b", mnt_b)
    assert in_host(lab, "a", STOP, device=disk_a, mount_point=str(mnt_a))["ok"]
    assert in_host(lab, "b", START, device=disk_b, mount_point=str(mnt_b), fs_type="ext4") == {
        "ok": True
    }
    assert lab.run("b", ["cat", f"{mnt_b}/owner"]).stdout == "from-a\n"
    assert in_host(lab, "b", STOP, device=disk_b, mount_point=str(mnt_b))["ok"]
    fsck = lab.run("a", ["e2fsck", "-fn", disk_a], timeout=60)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


LAZY = """
import subprocess
from cluster.resources import stopnow
from cluster.resources.fs import Filesystem
fs = Filesystem(**ARGS)
ctx = context()
asyncio.run(fs.start(ctx))
# A loop device backed by a file on the filesystem holds it from inside the kernel:
# no process to kill, so umount stays busy and the driver detaches it lazily.
subprocess.run(["truncate", "-s", "1M", f"{fs.mount_point}/h4inner.img"], check=True)
inner = subprocess.run(["losetup", "--find", "--show", f"{fs.mount_point}/h4inner.img"],
                       capture_output=True, text=True, check=True).stdout.strip()
result["inner"] = inner
print("INNER " + inner, flush=True)
try:
    try:
        asyncio.run(fs.stop(ctx))
    except ResourceError as exc:
        result["halt"] = str(exc)
    result["active_after_halt"] = fs.active
    (action,) = fs.stop_now_actions()
    result["detached_dev"] = action.detached_dev
    result["released_while_held"] = asyncio.run(fs.released(ctx))
    report = stopnow.execute(stopnow.Plan("a", (action,)))
    result["stop_now_while_held"] = [report.outcomes[0].ok, report.outcomes[0].detail]
    try:
        asyncio.run(fs.stop(ctx))
    except ResourceError as exc:
        result["halt_again"] = str(exc)
finally:
    subprocess.run(["losetup", "-d", inner], check=True)
time.sleep(0.5)  # the kernel lets the filesystem go once the loop device has
after = stopnow.execute(stopnow.Plan("a", (action,)))
result["stop_now_after"] = [o.detail for o in after.outcomes]
result["released_after"] = asyncio.run(fs.released(ctx))
result["active_after"] = fs.active
"""


def test_a_lazily_detached_filesystem_stays_held_until_the_kernel_lets_it_go(
    lab: Lab, loops: Loops, mnt: Path
) -> None:
    """Issue 13 pt 4: a halt ending in a lazy unmount used to report the filesystem
    inactive, so the package counted as nowhere. Now it stays active (the halt is
    unclean), stop-now and another halt find it still held while the kernel holds the
    device, and it counts as released only once the device is free and MMP says so."""
    image = loops.image("h4lazy", 32, [*MKFS, "-O", "mmp", "-E", "mmp_update_interval=1"])
    device = loops.attach(image)
    result = in_host(lab, "a", LAZY, device=device, mount_point=str(mnt), fs_type="ext4")
    assert result["halt"].startswith(f"{mnt} was detached lazily: still in use by no process")
    assert result["active_after_halt"] is True
    assert result["detached_dev"] == os.stat(device).st_rdev
    assert result["released_while_held"] is False
    ok, detail = result["stop_now_while_held"]
    assert not ok and detail.startswith("detached lazily and still in use"), detail
    assert result["halt_again"] == (
        f"{device}, detached lazily from {mnt}, is still in use (by no process we can see "
        "(a mount below it?)); it must not be mounted elsewhere until it is let go"
    )
    assert result["stop_now_after"] == ["released (detached lazily before)"]
    assert result["released_after"] is True and result["active_after"] is False
    assert not mounted(lab, "a", mnt)
