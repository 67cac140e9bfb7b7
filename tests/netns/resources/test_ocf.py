"""OCF agents: the environment they get, every exit code, timeouts, real agents."""

import asyncio
import shutil
from pathlib import Path

import pytest

from cluster.resources import ocf, stopnow
from cluster.resources.base import Context, Recovery, ResourceError
from cluster.resources.ocf import OcfAgent
from tests.netns.lab import Lab
from tests.netns.resources.conftest import Loops, Recorder, has_address, in_host, mounted

AGENT = """#!/bin/sh
echo "$1 $OCF_ROOT $OCF_RESOURCE_INSTANCE $OCF_RESOURCE_PROVIDER $OCF_RESOURCE_TYPE \
$OCF_RESKEY_color $OCF_RESKEY_CRM_meta_timeout $PKG_VAR" >> "$OCF_RESKEY_log"
case "$1" in
start) [ -n "$OCF_RESKEY_start_sleep" ] && sleep "$OCF_RESKEY_start_sleep"
       echo "starting with code ${OCF_RESKEY_start_rc:-0}"; exit "${OCF_RESKEY_start_rc:-0}";;
stop) exit "${OCF_RESKEY_stop_rc:-0}";;
monitor) exit "${OCF_RESKEY_monitor_rc:-0}";;
*) exit 3;;
esac
"""
REAL_OCF_ROOT = Path("/usr/lib/ocf")


def test_agent(tmp_path: Path, **params: str) -> OcfAgent:
    root = tmp_path / "ocf"
    agent = root / "resource.d" / "cmtest" / "Probe"
    if not agent.exists():
        agent.parent.mkdir(parents=True)
        agent.write_text(AGENT)
        agent.chmod(0o755)
    values = {"color": "blue", "log": str(tmp_path / "calls")} | params
    return OcfAgent("cmtest", "Probe", "probe-1", values, ocf_root=str(root), start_timeout=5)


test_agent.__test__ = False  # type: ignore[attr-defined]


def test_environment_and_success(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    agent = test_agent(tmp_path)

    async def scenario() -> None:
        await agent.start(context)
        assert (await agent.monitor(context)).ok
        await agent.stop(context)

    asyncio.run(scenario())
    root = tmp_path / "ocf"
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"{action} {root} probe-1 cmtest Probe blue {ms} from-package"
        for action, ms in (("start", 5000), ("monitor", 20000), ("stop", 20000))
    ]
    assert "starting with code 0" in (tmp_path / "pkg1.log").read_text()


@pytest.mark.parametrize(
    ("code", "name", "recovery"),
    [
        (1, "OCF_ERR_GENERIC", Recovery.SOFT),
        (2, "OCF_ERR_ARGS", Recovery.HARD),
        (3, "OCF_ERR_UNIMPLEMENTED", Recovery.HARD),
        (4, "OCF_ERR_PERM", Recovery.HARD),
        (5, "OCF_ERR_INSTALLED", Recovery.HARD),
        (6, "OCF_ERR_CONFIGURED", Recovery.FATAL),
        (7, "OCF_NOT_RUNNING", Recovery.SOFT),
        (42, "", Recovery.SOFT),
    ],
)
def test_start_failures(
    ctx: tuple[Context, Recorder], tmp_path: Path, code: int, name: str, recovery: Recovery
) -> None:
    context, _rec = ctx
    agent = test_agent(tmp_path, start_rc=str(code))
    with pytest.raises(ResourceError) as err:
        asyncio.run(agent.start(context))
    expected = f"ocf cmtest:Probe probe-1 start: exit {code}"
    expected += f" ({name}: " if name else ": "
    assert str(err.value).startswith(expected), str(err.value)
    assert f"starting with code {code}" in str(err.value)
    assert err.value.recovery is recovery
    assert agent.active  # a failed start may have left something: the runner stops it


@pytest.mark.parametrize(
    ("code", "ok", "reason"),
    [
        (0, True, ""),
        (7, False, "monitor: exit 7 (OCF_NOT_RUNNING: not running)"),
        (8, True, "exit 8 (OCF_RUNNING_PROMOTED: running promoted)"),
        (9, False, "monitor: exit 9 (OCF_FAILED_PROMOTED: failed (promoted))"),
        (190, True, "exit 190 (OCF_DEGRADED: running degraded)"),
        (1, False, "monitor: exit 1 (OCF_ERR_GENERIC: generic error)"),
        (5, False, "monitor: exit 5 (OCF_ERR_INSTALLED: not installed)"),
    ],
)
def test_monitor_codes(
    ctx: tuple[Context, Recorder], tmp_path: Path, code: int, ok: bool, reason: str
) -> None:
    context, _rec = ctx
    agent = test_agent(tmp_path, monitor_rc=str(code))
    health = asyncio.run(agent.monitor(context))
    assert health.ok is ok
    assert health.reason.endswith(reason), health.reason


def test_stop_codes(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    asyncio.run(test_agent(tmp_path, stop_rc="7").stop(context))  # already stopped: fine
    with pytest.raises(ResourceError, match=r"stop: exit 1 \(OCF_ERR_GENERIC"):
        asyncio.run(test_agent(tmp_path, stop_rc="1").stop(context))


def test_start_timeout(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    agent = test_agent(tmp_path, start_sleep="30")
    agent.start_timeout = 0.3
    with pytest.raises(ResourceError, match=r"start: timed out"):
        asyncio.run(agent.start(context))


def test_missing_agent(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    agent = OcfAgent("nobody", "Nothing", "n-1", ocf_root=str(tmp_path))
    with pytest.raises(ResourceError, match="is missing or not executable") as err:
        asyncio.run(agent.start(context))
    assert err.value.recovery is Recovery.HARD
    assert not asyncio.run(agent.monitor(context)).ok


def test_stop_now_runs_the_agents_stop(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    agent = test_agent(tmp_path)
    asyncio.run(agent.start(context))
    report = stopnow.execute(stopnow.build_plan("a", agent.stop_now_actions()))
    assert report.clean and report.outcomes[0].detail == "stopped"
    assert (tmp_path / "calls").read_text().splitlines()[-1].startswith("stop ")
    hanging = stopnow.OcfStop(
        "pkg1",
        "x",
        str(tmp_path / "ocf/resource.d/cmtest/Probe"),
        {"OCF_RESKEY_stop_rc": "1", "OCF_RESKEY_log": "/dev/null"},
        1.0,
    )
    outcome = stopnow.execute(stopnow.build_plan("a", [hanging])).outcomes[0]
    assert not outcome.ok and outcome.detail == "stop exit 1"


def test_real_dummy_agent(ctx: tuple[Context, Recorder], tmp_path: Path) -> None:
    context, _rec = ctx
    state = tmp_path / "dummy.state"
    agent = OcfAgent(
        "heartbeat", "Dummy", "dummy-1", {"state": str(state)}, ocf_root=str(REAL_OCF_ROOT)
    )
    assert Path(agent.path).exists(), "apt-get install resource-agents"

    async def scenario() -> None:
        assert (await agent.monitor(context)).reason.endswith("OCF_NOT_RUNNING: not running)")
        await agent.start(context)
        assert state.exists()
        assert (await agent.monitor(context)).ok
        await agent.stop(context)
        assert not state.exists()
        await agent.start(context)

    asyncio.run(scenario())
    report = stopnow.execute(stopnow.build_plan("a", agent.stop_now_actions()))
    assert report.clean and not state.exists()


def test_real_ipaddr2_and_filesystem_agents_on_a_lab_host(tmp_path: Path, loops: Loops) -> None:
    """Debian's IPaddr2 and Filesystem agents, run by the driver on a lab host."""
    device = loops.attach(loops.image("ocf", 32, ["mkfs.ext4", "-q", "-F"]))
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    with Lab() as lab:
        lab.build(["a"], client=False)
        code = """
        from cluster.resources.ocf import OcfAgent
        async def main():
            ip = OcfAgent("heartbeat", "IPaddr2", "vip", {"ip": "198.18.0.77",
                          "cidr_netmask": "24", "nic": "eth0"})
            fs = OcfAgent("heartbeat", "Filesystem", "data", {"device": ARGS["device"],
                          "directory": ARGS["mnt"], "fstype": "ext4"})
            ctx = context()
            for agent in (ip, fs):
                try:
                    await agent.start(ctx)
                    result[agent.agent] = (await agent.monitor(ctx)).ok
                except ResourceError as exc:
                    result[agent.agent] = str(exc)
        asyncio.run(main())
        """
        started = in_host(lab, "a", code, device=device, mnt=str(mount_point))
        assert started == {"IPaddr2": True, "Filesystem": True}
        assert has_address(lab, "a", "198.18.0.77") == "eth0"
        assert mounted(lab, "a", mount_point)
        code = """
        from cluster.resources.ocf import OcfAgent
        async def main():
            ctx = context()
            for agent in (OcfAgent("heartbeat", "Filesystem", "data", {"device": ARGS["device"],
                                   "directory": ARGS["mnt"], "fstype": "ext4"}),
                          OcfAgent("heartbeat", "IPaddr2", "vip", {"ip": "198.18.0.77",
                                   "cidr_netmask": "24", "nic": "eth0"})):
                await agent.stop(ctx)
                result[agent.agent] = (await agent.monitor(ctx)).reason
        asyncio.run(main())
        """
        stopped = in_host(lab, "a", code, device=device, mnt=str(mount_point))
        assert all(r.endswith("(OCF_NOT_RUNNING: not running)") for r in stopped.values())
        assert has_address(lab, "a", "198.18.0.77") is None
        assert not mounted(lab, "a", mount_point)


def test_explain_names_every_spec_code() -> None:
    assert [ocf.CODES[c][0] for c in range(10)] == [
        "OCF_SUCCESS",
        "OCF_ERR_GENERIC",
        "OCF_ERR_ARGS",
        "OCF_ERR_UNIMPLEMENTED",
        "OCF_ERR_PERM",
        "OCF_ERR_INSTALLED",
        "OCF_ERR_CONFIGURED",
        "OCF_NOT_RUNNING",
        "OCF_RUNNING_PROMOTED",
        "OCF_FAILED_PROMOTED",
    ]
    assert ocf.explain(None) == "timed out"
    assert ocf.explain(-9) == "was killed by SIGKILL"
    assert shutil.which("sh")
