"""LVM volume groups on loop-device PVs: ownership tags, refusal, takeover, and
activation as far as this kernel allows (no device-mapper here: activation must be
refused with a clear reason; on a host with device-mapper it must succeed)."""

import asyncio
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster.resources import stopnow
from cluster.resources.base import Recovery, ResourceError
from cluster.resources.vg import VolumeGroup, device_mapper_problem
from tests.netns.resources.conftest import Loops, make_context

LVM_ENV = {"LVM_SUPPRESS_FD_WARNINGS": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


@dataclass
class TestVG:
    name: str
    pv: str

    def lvm(self, *args: str) -> str:
        done = subprocess.run(
            [args[0], "--devices", self.pv, *args[1:]],
            capture_output=True,
            text=True,
            env=LVM_ENV,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def tags(self) -> set[str]:
        out = self.lvm("vgs", "--noheadings", "-o", "vg_tags", self.name)
        return {t for t in out.strip().split(",") if t}

    def resource(self) -> VolumeGroup:
        return VolumeGroup(self.name, devices=(self.pv,))


TestVG.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def vg(loops: Loops) -> Iterator[TestVG]:
    pv = loops.attach(loops.image("pv", 16))
    group = TestVG(f"cmvg{secrets.token_hex(3)}", pv)
    group.lvm("pvcreate", "-q", pv)
    group.lvm("vgcreate", "-q", group.name, pv)
    try:
        yield group
    finally:
        subprocess.run(
            ["vgremove", "--devices", pv, "-f", group.name],
            env=LVM_ENV,
            capture_output=True,
            check=False,
        )
        subprocess.run(
            ["pvremove", "--devices", pv, "-f", pv], env=LVM_ENV, capture_output=True, check=False
        )


def test_vg_tagged_by_another_node_is_refused(vg: TestVG, tmp_path: Path) -> None:
    vg.lvm("vgchange", "--addtag", "b", vg.name)
    context, rec = make_context(tmp_path, node="a")
    with pytest.raises(ResourceError) as err:
        asyncio.run(vg.resource().start(context))
    assert str(err.value) == (
        f"volume group {vg.name} is owned by b (LVM tag); not activating it here while "
        "that node may still hold it"
    )
    assert err.value.recovery is Recovery.HARD
    assert vg.tags() == {"b"}
    assert rec.changes == 0


def test_start_tags_then_activates_or_says_why_not(vg: TestVG, tmp_path: Path) -> None:
    context, _rec = make_context(tmp_path, node="a")
    resource = vg.resource()
    problem = device_mapper_problem()
    if problem is None:  # a host with device-mapper: the whole cycle works
        asyncio.run(resource.start(context))
        assert vg.tags() == {"a"} and asyncio.run(resource.monitor(context)).ok
        asyncio.run(resource.stop(context))
        assert vg.tags() == set()
        return
    with pytest.raises(ResourceError) as err:
        asyncio.run(resource.start(context))
    # ENOENT without the device node, ENODEV when libdevmapper made the node anyway.
    assert re.fullmatch(
        f"cannot activate volume group {vg.name}: no device-mapper on this host "
        r"\(/dev/mapper/control: (No such file or directory|No such device)\)",
        str(err.value),
    ), str(err.value)
    assert vg.tags() == set()  # the tag it added is taken back
    assert not resource.active and resource.stop_now_actions() == []


def test_takeover_replaces_the_dead_owners_tag(vg: TestVG, tmp_path: Path) -> None:
    vg.lvm("vgchange", "--addtag", "b", vg.name)
    context, rec = make_context(tmp_path, node="a", takeover=True)
    resource = vg.resource()
    if device_mapper_problem() is None:
        asyncio.run(resource.start(context))
        assert vg.tags() == {"a"}
        return
    with pytest.raises(ResourceError, match="no device-mapper"):
        asyncio.run(resource.start(context))
    assert vg.tags() == set()  # b's tag removed by the takeover, ours taken back
    assert any(f"taking volume group {vg.name} over from b" in m for m in rec.messages())


def test_stop_and_monitor_with_our_tag(vg: TestVG, tmp_path: Path) -> None:
    """A group this node owns (tag set by an earlier start): monitor notices a foreign
    tag, stop drops ours."""
    vg.lvm("vgchange", "--addtag", "a", vg.name)
    context, _rec = make_context(tmp_path, node="a")
    resource = vg.resource()
    resource._active = True  # as after a start on a host with device-mapper
    assert asyncio.run(resource.monitor(context)).ok
    vg.lvm("vgchange", "--addtag", "b", vg.name)
    health = asyncio.run(resource.monitor(context))
    assert health.reason == f"volume group {vg.name} is now tagged for a, b"
    vg.lvm("vgchange", "--deltag", "b", vg.name)
    asyncio.run(resource.stop(context))
    assert vg.tags() == set() and not resource.active


def test_stop_now_deactivates_and_untags(vg: TestVG) -> None:
    vg.lvm("vgchange", "--addtag", "a", vg.name)
    action = stopnow.DeactivateVG("pkg1", f"vg {vg.name}", vg.name, "a", (vg.pv,))
    report = stopnow.execute(stopnow.build_plan("a", [action]))
    assert report.clean, report
    assert vg.tags() == set()
    missing = stopnow.DeactivateVG("pkg1", "vg x", "cmnovg", "a", (vg.pv,))
    outcome = stopnow.execute(stopnow.build_plan("a", [missing])).outcomes[0]
    assert not outcome.ok and outcome.detail == "vgchange -a n cmnovg: exit 5"
