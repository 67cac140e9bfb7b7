"""Run a plan: apply its actions, heal, play the operator, check liveness."""

import time
from dataclasses import dataclass, field

from cluster.core.effects import RunCluster, RunNode
from cluster.core.messages import Intent
from tests.sim.checker import Violation
from tests.sim.faults import Plan, apply
from tests.sim.world import World


@dataclass
class Result:
    seed: int
    label: str
    violations: list[str] = field(default_factory=list)
    converged_after: int | None = None  # ns after the heal
    epochs: int = 0
    seconds: float = 0.0
    handovers: int = 0
    tightest: int | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    def replay_hint(self, command: str) -> str:
        return f"seed {self.seed} ({self.label}); replay: {command} --seed {self.seed} --trace"


def operate(world: World, plan: Plan) -> None:
    """What an operator does after the faults: cmruncl when no cluster runs and nodes
    will not start by themselves (halted cluster, or AUTO_START off), cmrunnode on
    halted nodes of a running cluster."""
    running = any(h.node is not None and h.node.active for h in world.hosts.values())
    latest = world.decided()
    halted = latest is not None and not latest.members
    for name in sorted(plan.expected):
        host = world.hosts[name]
        node = host.node
        if node is None or not host.up or host.paused or node.busy():
            continue
        if not running and (halted or not plan.cfg.auto_start):
            before = len(host.commands)
            host.command(RunCluster())
            refused = len(host.commands) > before and not host.commands[-1].ok
            if not refused:
                return
        elif running and node.intent is Intent.HALTED:
            host.command(RunNode())


def run_plan(plan: Plan, seed: int, trace: bool = False) -> Result:
    started = time.perf_counter()
    world = World(plan.cfg, seed, trace=trace)
    result = Result(seed, plan.label)
    timing = plan.cfg.timing
    step = timing.member_timeout // 2
    try:
        for at, action in plan.actions:
            world.at(at, apply, world, action)
        world.run_until(plan.heal_at)
        end = plan.heal_at + plan.settle
        t = plan.heal_at
        while t < end:
            t = min(t + timing.heartbeat, end)
            world.run_until(t)
            if (t - plan.heal_at) % step < timing.heartbeat:
                operate(world, plan)
            if world.converged(set(plan.expected)):
                result.converged_after = t - plan.heal_at
                break
        if result.converged_after is None:
            world.checker.fail(
                world.now,
                f"liveness: nodes not gathered in one membership {plan.settle / 1e9:.1f}s "
                f"after the heal; last decided {world.decided()}; {world.describe()}",
            )
    except Violation:
        pass
    result.violations = world.checker.violations
    result.epochs = max(world.checker.decided, default=0)
    result.handovers = world.checker.handovers
    result.tightest = world.checker.tightest
    result.seconds = time.perf_counter() - started
    return result
