"""Stop-now within STOP_MARGIN: packages side by side, every step bounded, figures kept."""

import os
import time
from pathlib import Path

import pytest

from cluster.core.timing import MS, STOP_NOW_START, STOP_NOW_STEP, STOP_NOW_UNMOUNT
from cluster.resources import stopnow, stoptimes


def agent(tmp_path: Path, name: str, body: str) -> str:
    """An OCF agent whose stop runs `body` (a shell snippet)."""
    path = tmp_path / name
    path.write_text(f'#!/bin/sh\n[ "$1" = stop ] || exit 3\n{body}\n')
    path.chmod(0o755)
    return str(path)


def test_slow_packages_stop_side_by_side_within_one_package_bound(tmp_path: Path) -> None:
    """Four packages whose OCF stop takes 300 ms each: one after the other they would
    need 1.2 s; side by side the whole stop-now takes about one package's time."""
    slow = agent(tmp_path, "slow", "sleep 0.3")
    actions: list[stopnow.StopNowAction] = [
        stopnow.OcfStop(f"pkg{i}", f"ocf slow{i}", slow, {}, 2.0) for i in range(4)
    ]
    report = stopnow.execute(stopnow.build_plan("a", actions))
    assert report.clean, report.outcomes
    times = report.package_times()
    assert sorted(times) == ["pkg0", "pkg1", "pkg2", "pkg3"]
    assert all(t >= 300 * MS for t in times.values())
    assert report.elapsed_ns < 600 * MS, report.summary()
    # The bound of the node is the largest package's, not the sum.
    bounds = stopnow.package_bounds(stopnow.build_plan("a", actions))
    assert bounds == {f"pkg{i}": STOP_NOW_START + 2000 * MS for i in range(4)}


def test_a_hung_agent_is_cut_at_its_bound_and_holds_no_one_back(tmp_path: Path) -> None:
    hung = agent(tmp_path, "hung", "exec sleep 30")
    quick = agent(tmp_path, "quick", "exit 0")
    plan = stopnow.build_plan(
        "a",
        [
            stopnow.OcfStop("stuck", "ocf hung", hung, {}, 0.3),
            stopnow.OcfStop("stuck", "ocf after", quick, {}, 1.0),
            stopnow.OcfStop("fine", "ocf quick", quick, {}, 1.0),
        ],
    )
    report = stopnow.execute(plan)
    hung_out, after, fine = report.outcomes  # plan order
    assert (hung_out.ok, hung_out.detail) == (False, "stop timed out")
    assert 300 * MS <= hung_out.elapsed_ns < 500 * MS
    # Within the package, the next action starts only after the hung one was cut.
    assert after.ok and after.done_ns >= hung_out.done_ns
    # Another package is not held back by it.
    assert fine.ok and fine.done_ns < 200 * MS
    assert not report.clean and report.elapsed_ns < 800 * MS
    assert "NOT CLEAN" in report.summary()


def test_a_package_keeps_its_order(tmp_path: Path) -> None:
    log = tmp_path / "order"
    first = agent(tmp_path, "first", f"sleep 0.1; echo first >> {log}")
    second = agent(tmp_path, "second", f"echo second >> {log}")
    plan = stopnow.build_plan(
        "a",
        [
            stopnow.OcfStop("p", "ocf first", first, {}, 1.0),
            stopnow.OcfStop("p", "ocf second", second, {}, 1.0),
        ],
    )
    assert stopnow.execute(plan).clean
    assert log.read_text().split() == ["first", "second"]


def test_volume_group_tag_gets_only_what_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deactivation is what must end in time; the ownership tag (an adoptive node
    retags the group after the lease) gets the rest of the bound, no more."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vgchange"
    fake.write_text('#!/bin/sh\ncase "$*" in *--deltag*) exec sleep 30;; esac\nsleep 0.1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    plan = stopnow.build_plan("a", [stopnow.DeactivateVG("p", "vg vg01", "vg01", "a", (), 0.4)])
    t0 = time.monotonic()
    (outcome,) = stopnow.execute(plan).outcomes
    assert outcome.ok and outcome.detail == "deactivated; tag a left"
    assert time.monotonic() - t0 < 0.4 + 0.15
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    (outcome,) = stopnow.execute(plan).outcomes
    assert (outcome.ok, outcome.detail) == (False, "vgchange -a n vg01: timed out")


def test_bounds_of_each_kind() -> None:
    plan = stopnow.build_plan(
        "a",
        [
            stopnow.KillGroup("p", "service s", 1, 1),
            stopnow.DeleteAddress("p", "ip", "eth0", "198.18.0.100", 24),
            stopnow.Unmount("p", "fs /d", "/d", "/dev/x"),
            stopnow.DeactivateVG("p", "vg vg01", "vg01", "a"),
            stopnow.KillGroup("q", "service t", 2, 2),
        ],
    )
    bounds = stopnow.package_bounds(plan)
    unmount = STOP_NOW_UNMOUNT + 2 * STOP_NOW_STEP
    assert bounds["p"] == STOP_NOW_START + 2 * STOP_NOW_STEP + unmount + 3000 * MS
    assert bounds["q"] == STOP_NOW_START + STOP_NOW_STEP


def test_figures_are_kept_and_overruns_named(tmp_path: Path) -> None:
    def report(took_ms: dict[str, int], ok: bool = True) -> stopnow.Report:
        outcomes = tuple(
            stopnow.Outcome("kill_group", pkg, "s", ok, t * MS, "", t * MS)
            for pkg, t in took_ms.items()
        )
        return stopnow.Report(0, max(took_ms.values()) * MS, outcomes)

    path = tmp_path / "state" / "stopnow.times.json"
    first = report({"pkg1": 150, "pkg2": 20})
    assert first.summary(200 * MS) == (
        "2 action(s) of 2 package(s) in 150 ms (pkg1 150 ms, pkg2 20.0 ms), "
        "within STOP_MARGIN 200 ms"
    )
    stoptimes.record_times(path, first, by="guard", margin_ns=200 * MS, wall_time=0)
    assert stoptimes.overruns(stoptimes.load_times(path), 200 * MS, "n1") == []
    late = report({"pkg1": 450})
    assert late.summary(200 * MS).endswith("250 ms MORE than STOP_MARGIN 200 ms")
    times = stoptimes.record_times(path, late, by="cmcld", margin_ns=200 * MS, wall_time=0)
    assert times["pkg1"]["worst_ms"] == 450 and times["pkg1"]["count"] == 2
    stoptimes.record_times(path, report({"pkg1": 30}), by="guard", margin_ns=200 * MS)
    (line,) = stoptimes.overruns(stoptimes.load_times(path), 200 * MS, "n1")
    assert line.startswith(
        "the stop-now of package pkg1 on n1 took up to 450 ms, more than STOP_MARGIN 200 ms "
        "(last: 30.0 ms by the guard at "
    )
    stoptimes.record_times(path, report({"pkg2": 5}, ok=False), by="guard", margin_ns=200 * MS)
    assert stoptimes.overruns(stoptimes.load_times(path), 500 * MS, "n1")[0].startswith(
        "the last stop-now of package pkg2 on n1 was NOT clean"
    )
    path.write_text("{not json")
    assert stoptimes.load_times(path) == {}
