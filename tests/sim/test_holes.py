"""Issue 13's holes, one scenario each (tests/sim/scenarios): each passes as the daemon
now works, and fails when the simulator plays back the rule the daemon had before
(a `legacy` switch, or the setting the fix changed). test_scenarios.py runs each file
as it is over seven seeds; here the old rule must break an invariant in one of a few.

Point 6 is also shown on real hosts (tests/netns/test_packages.py: cmdeleteconf on a
node that neither runs nor coordinates the package); point 7 (quorum-server state) is
in quorum-server-*.scn and test_mutations.py.
"""

import dataclasses
from collections.abc import Callable

import pytest

import cluster.core.session as session_module
from cluster.core.timing import MS, Timing
from tests.sim.faults import Plan
from tests.sim.runner import run_plan
from tests.sim.scenario import SCENARIOS, parse
from tests.sim.world import SimConfig


def runs(
    scenario: str, seeds: range, change: Callable[[SimConfig], None] | None = None
) -> list[str]:
    """The violations of the first seed that shows any (empty: none did)."""
    plan = parse(SCENARIOS / f"{scenario}.scn").plan
    if change is not None:
        cfg = dataclasses.replace(plan.cfg)
        change(cfg)
        plan = Plan(cfg, plan.actions, plan.heal_at, plan.expected, plan.settle, plan.label)
    for seed in seeds:
        result = run_plan(plan, seed)
        if not result.ok:
            print(f"{scenario}: seed {seed}: {result.violations[0]}")
            return result.violations
    return []


def legacy(*rules: str) -> Callable[[SimConfig], None]:
    def change(cfg: SimConfig) -> None:
        cfg.legacy = frozenset(rules)

    return change


HOLES = [
    "guardless-node",
    "cmcld-crash-quick-restart",
    "stop-now-longer-than-margin",
    "plan-publish-fails",
    "frozen-host-watchdog",
    "frozen-host-clock-lag",
    "frozen-host-address-probe",
    "guard-learns-before-start",
    "config-removes-running-package",
    "unclean-halt",
]


@pytest.mark.parametrize("scenario", HOLES)
def test_each_hole_is_closed(scenario: str) -> None:
    assert runs(scenario, range(1, 9)) == []


def test_point_1_a_node_without_its_guard_ran_packages() -> None:
    violations = runs("guardless-node", range(1, 21), legacy("guardless-runs"))
    assert any("while" in v for v in violations), violations


def test_point_2_a_restarted_cmcld_forgot_what_ran() -> None:
    def forget(cfg: SimConfig) -> None:
        cfg.adopt_orphans = False

    violations = runs("cmcld-crash-quick-restart", range(1, 21), forget)
    assert any("while" in v for v in violations), violations


def test_point_3_stop_now_longer_than_the_default_margin() -> None:
    def default_margin(cfg: SimConfig) -> None:
        declared = cfg.stop_max  # the same 500 ms stops...
        cfg.timing = Timing.for_member_timeout(cfg.timing.member_timeout)  # ...200 ms margin
        cfg.stop_factor = declared / cfg.timing.stop_margin

    violations = runs("stop-now-longer-than-margin", range(1, 31), default_margin)
    assert any("while" in v for v in violations), violations


def test_point_4_an_unclean_halt_reported_as_halted() -> None:
    violations = runs("unclean-halt", range(1, 21), legacy("unclean-invisible"))
    assert any("while" in v for v in violations), violations


def test_point_5_a_start_the_guard_was_not_told_of() -> None:
    violations = runs("plan-publish-fails", range(1, 31), legacy("publish-ignored"))
    assert any("while" in v for v in violations), violations


def test_point_6_a_running_package_removed_from_the_configuration() -> None:
    violations = runs("config-removes-running-package", range(1, 21), legacy("remove-running"))
    assert any("while" in v for v in violations), violations


def test_point_8_a_frozen_host_without_watchdog() -> None:
    def no_watchdog(cfg: SimConfig) -> None:
        cfg.watchdog = False

    violations = runs("frozen-host-watchdog", range(1, 21), no_watchdog)
    assert any("while" in v for v in violations), violations


def test_point_8_a_thawed_host_whose_clock_lags_fed_its_watchdog() -> None:
    """The old feed rule (feed while a host frozen from now on would be reset by the
    deadline) forgot the freezes before the feed: a's clock lags, its guard is late."""
    violations = runs("frozen-host-clock-lag", range(1, 21), legacy("watchdog-unanchored"))
    assert any("while" in v for v in violations), violations


def test_point_8_a_refused_takeover_counted_as_a_failure() -> None:
    violations = runs("frozen-host-address-probe", range(1, 21), legacy("probe-is-failure"))
    assert any("failures recorded" in v for v in violations), violations


def test_point_9_refused_orders_without_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old rule re-sent a refused order as soon as the node's report came back (a
    millisecond here): with the address held by the frozen host, thousands of times."""
    monkeypatch.setattr(session_module, "BACKOFF_FIRST", MS)
    monkeypatch.setattr(session_module, "BACKOFF_MAX", MS)
    violations = runs("frozen-host-address-probe", range(1, 4))
    assert any("orders were refused" in v for v in violations), violations


def test_point_10_the_guard_told_once_the_start_is_done() -> None:
    violations = runs("guard-learns-before-start", range(1, 31), legacy("publish-late"))
    assert any("while" in v for v in violations), violations
