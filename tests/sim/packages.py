"""Packages in the simulator: the real placement session (`cluster.core.session`) and
policy engine on every node, and a model of each node's own packages, so the
exclusivity checker judges real placements.

Messages stand for the daemon's RPCs (GetPackages, ReportPackage, ExecutePackageAction,
SetPackageFlags) and travel the simulated network, so they are lost, late, duplicated
and cut like heartbeats; an RPC with no answer in time is an `ActionLost` or a
`ReportMissing`, as a gRPC deadline is in the daemon.

A node's packages (`PackageAgent`) behave as `daemon/packages.py` does: a start is
refused unless the order is of the node's current epoch, from its coordinator, while it
holds its lease and is not halting; a start and a halt take time; on LeaseLost, or when
its guard fires, every package stops (stop-now), which takes up to `SimConfig.stop_max`.
A package holds its resources (for the checker) from the moment its start begins until
its halt or stop completes, and is reported (starting, running, halting) meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cluster.core.messages import Membership
from cluster.core.policy_model import Action, ActionKind, InstanceState, PackageSpec
from cluster.core.session import PlacementSession
from cluster.core.session_model import (
    ActionDone,
    ActionLost,
    ActionRefused,
    Ask,
    Configured,
    Decided,
    Flags,
    Held,
    Layout,
    NodeReport,
    Order,
    Publish,
    Reported,
    ReportMissing,
    Say,
    SessionEffect,
    SessionEvent,
    TakeoverAt,
    Wake,
    WakeAt,
)
from cluster.core.timing import MS

if TYPE_CHECKING:
    from tests.sim.world import Host

ASK_TIMEOUT = 500 * MS  # GetPackages' deadline, shortened (the daemon's is 5 s)
ORDER_TIMEOUT = 2000 * MS  # ExecutePackageAction's, shortened likewise
START_TIME = (1 * MS, 30 * MS)  # a start's duration (SimConfig.start_time overrides)
HALT_TIME = (1 * MS, 20 * MS)


@dataclass(frozen=True)
class GetReport:
    epoch: int
    ask: int


@dataclass(frozen=True)
class ReportReply:
    ask: int
    report: NodeReport | None  # None: not in that epoch (the RPC's error)


@dataclass(frozen=True)
class PushReport:
    report: NodeReport


@dataclass(frozen=True)
class Execute:
    ask: int
    action: Action
    generation: int


@dataclass(frozen=True)
class Executed:
    ask: int
    error: str  # "": performed
    report: NodeReport | None


@dataclass(frozen=True)
class SetFlags:
    flags: Flags


ReplyFn = Callable[[str, NodeReport | None], None]  # ExecutePackageAction's answer
OpFn = Callable[[str, ReplyFn], None]  # what ends a start or halt

AGENT_MESSAGES = (GetReport, ReportReply, PushReport, Execute, Executed, SetFlags)
AgentMessage = GetReport | ReportReply | PushReport | Execute | Executed | SetFlags


def sim_layout(nodes: tuple[str, ...], prefs: dict[str, tuple[str, ...]]) -> Layout:
    """Failover packages, each eligible on every node in its own random order."""
    return Layout(
        generation=1,
        nodes=nodes,
        packages=tuple(PackageSpec(name, order) for name, order in sorted(prefs.items())),
        auto_run=dict.fromkeys(prefs, True),
    )


class PackageAgent:
    def __init__(self, host: Host, layout: Layout) -> None:
        self.host = host
        self.layout = layout
        self.prefs = {p.name: p.nodes for p in layout.packages}
        self.held: dict[str, InstanceState] = {}  # package -> starting/running/halting
        self.ops: dict[str, int] = {}  # package -> number of its current start/halt/stop
        self.failed: set[str] = set()
        self.flags = Flags()
        self.leaving = False  # cmhaltnode: starts nothing, reports halting
        self._stopping: set[str] = set()  # packages whose stop-now is running
        self.guarded: set[str] = set()  # packages in the lease guard's plan
        self.seq = 0
        self.session = PlacementSession(host.name, layout)
        self._asks = 0
        self._asked: dict[int, tuple[str, int]] = {}  # GetPackages in flight: (node, epoch)
        self._ordered: dict[int, Action] = {}  # ExecutePackageAction in flight

    # ------------------------------------------------------------------ this node

    def report(self) -> NodeReport:
        node = self.host.node
        epoch = node.decided_membership().epoch if node is not None else 0
        return NodeReport(
            node=self.host.name,
            epoch=epoch,
            held=tuple(Held(p, s) for p, s in sorted(self.held.items())),
            failed=tuple(sorted(self.failed)),
            halting=self.leaving or bool(self.blocked()),
            blocked=self.blocked(),
            flags=self.flags,
            seq=self.seq,
            boot=self.host.incarnation,
        )

    def blocked(self) -> str:
        """Why this node may start no package (DESIGN.md §3: no lease guard, no package)."""
        cfg = self.host.world.cfg
        if self.host.name in cfg.guardless and "guardless-runs" not in cfg.legacy:
            return "the lease guard is not running"
        return ""

    def _changed(self) -> None:
        """Push the new report to the coordinator of our epoch (ReportPackage)."""
        self.seq += 1
        node = self.host.node
        if node is None or not node.active:
            return
        m = node.decided_membership()
        if self.host.name not in m.members:
            return
        if m.coordinator == self.host.name:
            self._feed(Reported(self.host.local_now(), self.report()))
        else:
            self.host.send(m.coordinator, PushReport(self.report()))

    def _refusal(self, sender: str, action: Action, generation: int) -> str:
        node = self.host.node
        assert node is not None
        decided = node.decided_membership()
        if generation != self.layout.generation:
            mine = self.layout.generation
            return f"order for generation {generation}: {self.host.name} has {mine}"
        if self.layout.spec(action.package) is None:
            return f"package {action.package} is not configured on {self.host.name}"
        if not node.active or action.epoch != decided.epoch:
            return f"order of epoch {action.epoch} refused: {self.host.name} is elsewhere"
        if sender != decided.coordinator:
            return f"{sender} is not the coordinator of epoch {decided.epoch}"
        if action.kind is ActionKind.START:
            if self.blocked():
                return f"{self.host.name} runs no package: {self.blocked()}"
            if self.leaving:
                return f"{self.host.name} is halting: it starts no package"
            if not node.holds_lease(self.host.local_now()):
                return f"{self.host.name} does not hold its lease: it starts no package"
        return ""

    def configure(self, layout: Layout) -> None:
        """A configuration generation is applied here. A package it no longer has is
        forgotten as daemon/packages.py forgets its runner: whatever of it still runs
        here runs on unmanaged (which is why cmapplyconf refuses to remove a package
        that runs anywhere, and the random mix removes only halted ones)."""
        names = {p.name for p in layout.packages}
        for name in [n for n in self.held if n not in names]:
            self.host.world.trace(f"{self.host.name}: {name} removed while held: unmanaged")
            del self.held[name]
            self._stopping.discard(name)
        self.layout = layout
        self.prefs = {p.name: p.nodes for p in layout.packages}
        self._feed(Configured(self.host.local_now(), layout))
        self._changed()  # the report follows the configuration

    def execute(self, sender: str, action: Action, reply: ReplyFn, generation: int) -> None:
        """ExecutePackageAction: refused at once, or answered once done."""
        error = self._refusal(sender, action, generation)
        if error:
            reply(error, None)
            return
        world = self.host.world
        name = action.package
        state = self.held.get(name)
        if action.kind is ActionKind.START:
            if state is not None:
                reply("", self.report())  # already there (a repeated order)
                return
            holder = world.checker.holder(name, world.now)
            if world.cfg.address_probe and holder not in (None, self.host.name):
                # The duplicate-address probe: a host still answers for the package's
                # address. Refused (retried later), not a failure of this node.
                if "probe-is-failure" in world.cfg.legacy:
                    self.failed.add(name)  # the old rule: a failed start here
                    self._changed()
                    reply("", self.report())
                    return
                reply(f"the address of {name} is still in use (held elsewhere)", None)
                return
            legacy = world.cfg.legacy
            if self.host.stalled_until > world.now and "publish-ignored" not in legacy:
                # The guard's plan cannot be written (a full or hung disk): the start
                # fails before any resource exists (daemon/packages.py publish_plan).
                self.failed.add(name)
                world.trace(f"{self.host.name} cannot publish {name} to its guard: failed")
                self._changed()
                reply("", self.report())
                return
            if self.host.stalled_until <= world.now and "publish-late" not in legacy:
                self.guarded.add(name)  # the guard learns of it before it exists
            self.held[name] = InstanceState.STARTING
            world.checker.acquire(world.now, name, self.host.name)
            world.trace(f"{self.host.name} starts {name} (epoch {action.epoch})")
            self._changed()
            low, high = world.cfg.start_time or START_TIME
            self._after(world.rng.randint(low, high), self._started, name, reply)
        else:
            if state is not InstanceState.RUNNING:
                reply("", self.report())
                return
            self.held[name] = InstanceState.HALTING
            self._changed()
            low, high = HALT_TIME
            self._after(world.rng.randint(low, high), self._halted, name, reply)

    def _after(self, delay: int, fn: OpFn, name: str, reply: ReplyFn) -> None:
        """A start, halt or stop ends after `delay`: the package's processes and the
        guard do this work, so it ends even if cmcld dies meanwhile (not if the host
        does, and not while it is frozen)."""
        op = self.ops.get(name, 0) + 1
        self.ops[name] = op
        host = self.host
        host.world.at(host.world.now + delay, self._op_due, host.guard_life, name, op, fn, reply)

    def _op_due(self, life: int, name: str, op: int, fn: OpFn, reply: ReplyFn) -> None:
        host = self.host
        if host.guard_life != life:
            return  # the host crashed: its processes are gone
        if host.frozen_at is not None:
            host.buffer.append((self._op_due, (life, name, op, fn, reply)))
            return
        if self.ops.get(name) == op:  # not overtaken by a stop-now
            fn(name, reply)

    def _started(self, name: str, reply: ReplyFn) -> None:
        host = self.host
        late = "publish-late" in host.world.cfg.legacy
        if late and host.stalled_until <= host.world.now and host.node and not host.paused:
            self.guarded.add(name)  # the broken order: cmcld publishes it once it runs
        self.held[name] = InstanceState.RUNNING
        self._changed()
        reply("", self.report())

    def _halted(self, name: str, reply: ReplyFn) -> None:
        world = self.host.world
        if self.host.name in world.cfg.unclean_hosts:
            # The halt could not release everything (a lazily detached filesystem):
            # the kernel lets go only `unclean_for` later.
            until = world.now + world.cfg.unclean_for
            if "unclean-invisible" in world.cfg.legacy:
                del self.held[name]  # the old report: halted, though still held
                world.checker.release(name, self.host.name, until)
            else:
                self.held[name] = InstanceState.UNCLEAN  # halt_unclean: placed nowhere
                self._after(until - world.now, self._let_go, name, _no_reply)
            world.trace(f"{self.host.name} halted {name} uncleanly, held until {until / 1e6:.3f}ms")
            self._changed()
            reply("", self.report())
            return
        del self.held[name]
        self.guarded.discard(name)
        world.checker.release(name, self.host.name, world.now)
        world.trace(f"{self.host.name} halted {name}")
        self._changed()
        reply("", self.report())

    def _let_go(self, name: str, reply: ReplyFn) -> None:
        """The kernel let go of what an unclean halt left: the package is reclaimed."""
        world = self.host.world
        self.held.pop(name, None)
        self.guarded.discard(name)
        world.checker.release(name, self.host.name, world.now)
        self._changed()

    def stop_all(self, why: str, guard: bool = False) -> int:
        """Stop-now: every package stops at once, each within `stop_max`; reported as
        halting until its stop completes. The guard stops only what its plan holds.
        Returns the real time the last one ends."""
        world = self.host.world
        end = world.now
        for name in sorted(self.held):
            if self.held[name] is InstanceState.HALTING and name in self._stopping:
                continue
            if guard and name not in self.guarded:
                world.trace(f"{self.host.name} guard: {name} is not in its plan, runs on")
                continue
            done = world.now + world.rng.randint(0, world.cfg.stop_max)
            world.checker.release(name, self.host.name, done)
            world.trace(f"{self.host.name} stops {name} ({why}), done at {done / 1e6:.3f}ms")
            self.held[name] = InstanceState.HALTING
            self._stopping.add(name)
            self._after(done - world.now, self._stopped, name, _no_reply)
            end = max(end, done)
        self._changed()
        return end

    def _stopped(self, name: str, reply: ReplyFn) -> None:
        self.held.pop(name, None)
        self.guarded.discard(name)
        self._stopping.discard(name)
        self._changed()

    def fail_running(self) -> None:
        """Every package running here fails (a service out of restarts): it halts and
        the failure goes into the history, so it moves within the epoch."""
        for name in sorted(self.held):
            if self.held[name] is InstanceState.RUNNING:
                self.failed.add(name)
                self.held[name] = InstanceState.HALTING
                low, high = HALT_TIME
                self._after(self.host.world.rng.randint(low, high), self._halted, name, _no_reply)
        self._changed()

    def daemon_crash(self) -> None:
        """cmcld dies alone: what it ran keeps running (held, for the checker too); a
        stop-now it had begun completes (the guard's would); its session is gone."""
        for name in list(self._stopping):
            self.held.pop(name, None)
        self._stopping.clear()
        self.ops.clear()
        self.failed.clear()
        self.leaving = False
        self.session = PlacementSession(self.host.name, self.layout)
        self._asked.clear()
        self._ordered.clear()

    def forget(self) -> None:
        """The broken variant of a restart: the new cmcld neither stops nor reports
        what its predecessor left running (the processes still hold the resources)."""
        self.held.clear()

    def crash(self) -> None:
        """The host dies: its processes with it."""
        world = self.host.world
        for name in self.held:
            world.checker.release(name, self.host.name, world.now)
        self.held.clear()
        self._stopping.clear()
        self.guarded.clear()
        self.ops.clear()
        self.leaving = False
        self.session = PlacementSession(self.host.name, self.layout)
        self._asked.clear()
        self._ordered.clear()

    # ------------------------------------------------------------------ messages

    def on_message(self, sender: str, message: AgentMessage) -> None:
        node = self.host.node
        if node is None:
            return
        if isinstance(message, GetReport):
            mine = node.decided_membership().epoch == message.epoch and node.active
            self.host.send(sender, ReportReply(message.ask, self.report() if mine else None))
        elif isinstance(message, ReportReply):
            asked = self._asked.pop(message.ask, None)
            if asked is None:
                return  # timed out already
            member, epoch = asked
            now = self.host.local_now()
            if message.report is None or message.report.epoch != epoch:
                self._feed(ReportMissing(now, member, epoch))
            else:
                self._feed(Reported(now, message.report))
        elif isinstance(message, PushReport):
            if message.report.node == sender:
                self._feed(Reported(self.host.local_now(), message.report))
        elif isinstance(message, Execute):

            def answer(error: str, report: NodeReport | None, ask: int = message.ask) -> None:
                self.host.send(sender, Executed(ask, error, report))

            self.execute(sender, message.action, answer, message.generation)
        elif isinstance(message, Executed):
            action = self._ordered.pop(message.ask, None)
            if action is not None:
                self._outcome(action, message.error, message.report)
        elif isinstance(message, SetFlags):
            decided = node.decided_membership()
            if sender == decided.coordinator and message.flags.epoch <= decided.epoch:
                self._adopt(message.flags)

    def _adopt(self, flags: Flags) -> None:
        if flags.version > self.flags.version:
            self.flags = flags
            self.failed -= {f.package for f in flags.packages if self.host.name in f.failed}
        self.session.adopt(self.flags)

    def _outcome(self, action: Action, error: str, report: NodeReport | None) -> None:
        now = self.host.local_now()
        if error:
            self.host.world.refused_orders += 1
            self._feed(ActionRefused(now, action, error))
        else:
            self._feed(ActionDone(now, action, report))

    # ------------------------------------------------------------------ coordinator

    def on_decided(self, m: Membership) -> None:
        if self.host.name not in m.members:
            self.leaving = False
        self._feed(Decided(self.host.local_now(), m, self.flags))
        if self.host.name in m.members and m.coordinator != self.host.name:
            self._changed()

    def on_takeover(self, node: str, epoch: int, at: int) -> None:
        self._feed(TakeoverAt(self.host.local_now(), node, epoch, at))

    def _feed(self, event: SessionEvent) -> None:
        self._perform(self.session.handle(event))

    def _perform(self, effects: list[SessionEffect]) -> None:
        host = self.host
        for effect in effects:
            if isinstance(effect, Ask):
                host.agent_timer_at(effect.at, self._ask, effect.node, effect.epoch)
            elif isinstance(effect, Order):
                self._order(effect.action, effect.generation)
            elif isinstance(effect, Publish):
                self._adopt(effect.flags)
                if effect.push:
                    m = self.session.membership
                    for member in m.members if m else ():
                        if member != host.name:
                            host.send(member, SetFlags(effect.flags))
            elif isinstance(effect, Say):
                host.world.trace(f"{host.name} coordinator: {effect.text}")
            elif isinstance(effect, WakeAt):
                host.agent_timer_at(effect.at, self._wake)
            # Reply: no operator waits in the simulator

    def _wake(self) -> None:
        self._feed(Wake(self.host.local_now()))

    def _ask(self, member: str, epoch: int) -> None:
        host = self.host
        if member == host.name:
            node = host.node
            mine = node is not None and node.active and node.decided_membership().epoch == epoch
            now = host.local_now()
            self._feed(Reported(now, self.report()) if mine else ReportMissing(now, member, epoch))
            return
        self._asks += 1
        ask = self._asks
        self._asked[ask] = (member, epoch)
        host.send(member, GetReport(epoch, ask))
        host.agent_timer(ASK_TIMEOUT, self._ask_timeout, ask, member, epoch)

    def _ask_timeout(self, ask: int, member: str, epoch: int) -> None:
        if self._asked.pop(ask, None) is not None:
            self._feed(ReportMissing(self.host.local_now(), member, epoch))

    def _order(self, action: Action, generation: int) -> None:
        host = self.host
        if action.node == host.name:

            def local(error: str, report: NodeReport | None) -> None:
                self._outcome(action, error, report)

            self.execute(host.name, action, local, generation)
            return
        self._asks += 1
        ask = self._asks
        self._ordered[ask] = action
        host.send(action.node, Execute(ask, action, generation))
        host.agent_timer(ORDER_TIMEOUT, self._order_timeout, ask, action)

    def _order_timeout(self, ask: int, action: Action) -> None:
        if self._ordered.pop(ask, None) is not None:
            self._feed(ActionLost(self.host.local_now(), action, "no answer in time"))


def _no_reply(error: str, report: NodeReport | None) -> None:
    pass
