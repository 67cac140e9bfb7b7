"""An unclean halt is visible and keeps the package where it is held (issue 13 pt 4,
DESIGN §3 "Packages and the lease guard"), with the built zipapp on lab hosts: the
package's filesystem is held from inside the kernel (a loop device backed by a file on
it: nothing to kill), so its halt ends in a lazy unmount. cmhaltpkg fails and says so,
cmviewcl -v gives the reason, the package starts on no other node, cmhaltnode fails
naming it and the node stays a member; once the kernel lets the filesystem go (the
inner loop device detached), the package is free and starts elsewhere."""

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.netns.cluster import lab_cluster, wait_for
from tests.netns.pkgsite import MT, NODES, PKG, Site, package_text


def h4_prefix() -> str:
    """This file's lab names: "h4" and a random suffix no namespace of the machine has."""
    while True:
        prefix = "h4" + secrets.token_hex(3)
        if not any(p.name.startswith(prefix) for p in Path("/run/netns").glob("*")):
            return prefix


@contextmanager
def site(work: Path) -> Iterator[Site]:
    """pkgsite's package (floating IP, ext4 with MMP, a TCP service) running on n1."""
    with lab_cluster(work, NODES, member_timeout=MT, prefix=h4_prefix()) as c:
        disk = c.lab.shared_disk("h4data", 64, directory=work)
        mount_point = work / "h4data"
        mount_point.mkdir()
        config = work / f"{PKG}.conf"
        config.write_text(package_text(disk.path, mount_point, NODES))
        c.apply_package("n1", config)
        c.wait_package(PKG, on="n1", observer="n2", timeout=20)
        yield Site(c, disk, mount_point, config)


@contextmanager
def held_from_the_kernel(s: Site, host: str) -> Iterator[str]:
    """A loop device backed by a file on the package's filesystem; detached at the end."""
    image = s.mount_point / "h4inner.img"
    s.c.lab.run(host, ["truncate", "-s", "1M", str(image)])
    done = s.c.lab.run(host, ["losetup", "--find", "--show", str(image)])
    inner = done.stdout.strip()
    assert done.returncode == 0 and inner.startswith("/dev/loop"), done
    try:
        yield inner
    finally:
        subprocess.run(["losetup", "-d", inner], capture_output=True, check=False)


def test_a_halt_ending_in_a_lazy_unmount_keeps_the_package_here(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.c
        with held_from_the_kernel(s, "n1") as inner:
            halt = c.cm("n2", "cmhaltpkg", PKG, timeout=120)
            out = halt.stdout + halt.stderr
            assert halt.returncode != 0, out
            assert f"package {PKG} could not be halted cleanly" in out, out
            assert "Traceback" not in out
            assert c.event_time("n1", "was detached lazily", log=f"{PKG}.log") > 0
            view = c.package("n3", PKG)
            assert view["state"] == "failed" and view["status"] == "down", view
            reason = view["reason"]
            assert reason.startswith("halt aborted on n1 (could not halt cleanly: "), view
            assert "it starts nowhere until it is halted there cleanly (cmhaltpkg)" in reason
            # The coordinator starts it on no other node, even when asked.
            run = c.cm("n2", "cmrunpkg", "-n", "n2", PKG, timeout=60)
            assert run.returncode != 0, run.stdout + run.stderr
            assert s.holds("n2") == (False, False) and s.holds("n3") == (False, False)
            # cmhaltnode fails, naming the package and what to do; n1 stays a member.
            leave = c.cm("n1", "cmhaltnode", "-f", timeout=120)
            out = leave.stdout + leave.stderr
            assert leave.returncode != 0, out
            assert f"n1 still holds {PKG} ({PKG} could not be halted cleanly): n1 stays" in out
            assert "cmhaltpkg" in out and "Traceback" not in out
            assert "n1" in c.running_members("n2")
            assert c.package("n3", PKG)["reason"].startswith("halt aborted on n1")
            # The kernel lets the filesystem go: the package is held nowhere any more.
            subprocess.run(["losetup", "-d", inner], check=True)

        def free() -> bool:
            return not c.package("n3", PKG).get("reason", "").startswith("halt aborted")

        wait_for(free, 20, "n1 to find the filesystem released")
        assert s.holds("n1") == (False, False)
        c.cm_ok("n2", "cmrunpkg", "-n", "n2", PKG, timeout=60)
        c.wait_package(PKG, on="n2", observer="n3", timeout=20)
        s.wait_answer_from("n2", 10)
