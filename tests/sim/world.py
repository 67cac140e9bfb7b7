"""The simulator: hosts running `MemberNode`, a quorum server, a network, real time.

Real time is the simulator's; each host reads only its own clock, which runs at a rate
within [1, 1 + rho] of real time from a random offset. A persist counts only once the
simulated disk completes it, so a crash loses what was still in flight; a paused
process receives nothing (its messages and timers wait) while its guard, which shares
only the lease deadline with it, still stops its tokens at deadline - stop margin.
"""

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from cluster.core.effects import (
    Command,
    CommandDone,
    Durable,
    Effect,
    Event,
    HaltCluster,
    HaltNode,
    LeaseChanged,
    LeaseGained,
    LeaseLost,
    MembershipDecided,
    Note,
    Operator,
    Persist,
    Persisted,
    QuorumDurable,
    Received,
    Send,
    TakeoverAllowed,
    Tick,
    WakeAt,
)
from cluster.core.membership import FOREVER
from cluster.core.messages import (
    QUORUM_SERVER,
    Intent,
    Membership,
    Ping,
    Pong,
    QuorumPing,
    QuorumPong,
)
from cluster.core.node import MemberNode
from cluster.core.paxos import AcceptorState
from cluster.core.quorum import QuorumServer
from cluster.core.spec import ClusterSpec
from cluster.core.timing import MS, PPM, SECOND, Timing
from tests.sim.checker import Checker
from tests.sim.network import Network
from tests.sim.packages import AGENT_MESSAGES, PackageAgent, sim_layout
from tests.sim.watchdog import Device


@dataclass
class SimConfig:
    nodes: tuple[str, ...]
    quorum_server: bool
    timing: Timing
    tokens: int = 3
    auto_start: bool = True
    persist_delay: tuple[int, int] = (MS // 5, 3 * MS)
    cluster_name: str = "sim"
    clock_ppm: int | None = None  # bound on clock rate offsets; None: timing.rho_ppm
    clock_extremes: bool = False  # each clock exactly at 0 or at the bound
    stop_factor: float = 0.5  # a stop-now lasts up to this x STOP_MARGIN
    watchdog: bool = False  # WATCHDOG_DEVICE: a frozen host is reset before its deadline
    adopt_orphans: bool = True  # a restarted cmcld stops its predecessor's packages first
    address_probe: bool = False  # a start is refused while another host holds the address
    guardless: frozenset[str] = frozenset()  # hosts whose lease guard cannot start
    legacy: frozenset[str] = frozenset()  # the old daemon rules a scenario plays back
    start_time: tuple[int, int] | None = None  # a start's duration range (a slow run script)
    unclean_hosts: frozenset[str] = frozenset()  # hosts whose halts leave resources held...
    unclean_for: int = SECOND  # ...until the kernel lets go this much later

    @property
    def stop_max(self) -> int:
        return int(self.timing.stop_margin * self.stop_factor)

    @property
    def spec(self) -> ClusterSpec:
        return ClusterSpec(self.cluster_name, self.nodes, self.quorum_server)


_ANSWERS = (Pong, QuorumPong)  # a tuple: isinstance on an X | Y union is slower
_AGENT = AGENT_MESSAGES


class Clock:
    """local = offset + real x (1 + ppm / 10^6), in integers."""

    def __init__(self, offset: int, ppm: int) -> None:
        self.offset = offset
        self.ppm = ppm

    def local(self, real: int) -> int:
        return self.offset + real + real * self.ppm // PPM

    def real(self, local: int) -> int:
        """The earliest real time at which this clock shows `local` or later."""
        d = local - self.offset
        if d <= 0:
            return 0
        r = d * PPM // (PPM + self.ppm)
        while self.local(r) < local:
            r += 1
        return r


class Process:
    """What hosts and the quorum server share: up/down, paused, incarnations, a disk."""

    def __init__(self, world: "World", name: str, clock: Clock) -> None:
        self.world = world
        self.name = name
        self.clock = clock
        self.up = False
        self.paused = False
        self.incarnation = 0
        self.buffer: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self.disk_busy_until = 0

    def local_now(self) -> int:
        return self.clock.local(self.world.now)

    def call(self, inc: int, fn: Callable[..., None], *args: Any) -> None:
        """Run fn now, unless this incarnation died (dropped) or is paused (waits)."""
        if not self.up or inc != self.incarnation:
            return
        if self.paused:
            self.buffer.append((fn, args))
            return
        fn(*args)

    def later(self, real_at: int, fn: Callable[..., None], *args: Any) -> None:
        self.world.at(max(real_at, self.world.now), self.call, self.incarnation, fn, *args)

    def write(self, seq: int, state: Any) -> None:
        low, high = self.world.cfg.persist_delay
        done = max(self.world.now + self.world.rng.randint(low, high), self.disk_busy_until)
        self.disk_busy_until = done
        self.world.at(done, self._written, self.incarnation, seq, state)

    def _written(self, inc: int, seq: int, state: Any) -> None:
        if not self.up or inc != self.incarnation:
            return  # the crash lost it
        self.stored(state)
        self.later(self.world.now, self.feed_persisted, seq)

    def stored(self, state: Any) -> None:
        raise NotImplementedError

    def feed_persisted(self, seq: int) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        queued, self.buffer = self.buffer, []
        for fn, args in queued:
            if self.up and not self.paused:
                fn(*args)
            else:
                self.buffer.append((fn, args))


class Host(Process):
    def __init__(self, world: "World", name: str, clock: Clock, prefs: dict[str, tuple[str, ...]]):
        super().__init__(world, name, clock)
        self.node: MemberNode | None = None
        self.durable: Durable | None = None
        self.agent = PackageAgent(self, world.layout)
        self.wake_token = 0
        self.guard_deadline: int | None = None
        self.guard_life = 0  # the guard process: survives a cmcld crash, not a host crash
        self.frozen_at: int | None = None  # real time a whole-host freeze began
        self.stalled_until = 0  # real time a disk stall (DiskStall) ends
        self.wake_at = 0  # the local time of the core's last WakeAt
        self.freezes = 0
        self.device: Device | None = None  # WATCHDOG_DEVICE, fed by the guard
        self.resets = 0  # by the watchdog
        self.auto_start = world.cfg.auto_start
        self.commands: list[CommandDone] = []

    # ------------------------------------------------------------------ lifecycle

    def boot(self) -> None:
        """cmcld starts. Packages a previous cmcld left running here (a cmcld-only crash)
        are stopped first, from the guard's plan, before it may join (DESIGN.md §3)."""
        world = self.world
        self.up = True
        self.paused = False
        self.incarnation += 1
        if world.cfg.watchdog and self.name not in world.cfg.guardless and self.device is None:
            self.device = Device(self)  # the guard starts and feeds it
            self.device.tick()
        if self.agent.held and world.cfg.adopt_orphans:
            end = self.agent.stop_all("left by the previous cmcld")
            self.later(end, self._boot_node)
            return
        if self.agent.held:  # the broken variant: they run on, reported by nobody
            self.agent.forget()
        self._boot_node()

    def _boot_node(self) -> None:
        world = self.world
        if self.agent.layout is not world.layout:
            self.agent.configure(world.layout)  # caught up with what was applied meanwhile
        rng = Random(f"{world.seed}/{self.name}/{self.incarnation}")
        self.node = MemberNode(
            self.name,
            world.cfg.spec,
            world.cfg.timing,
            rng,
            now=self.local_now(),
            durable=self.durable,
            auto_start=self.auto_start,
        )
        world.trace(f"{self.name} boots (incarnation {self.incarnation})")
        self.apply(self.node.start())

    def crash(self) -> None:
        self.world.trace(f"{self.name} crashes")
        self.up = False
        self.paused = False
        self.frozen_at = None
        self.node = None
        self.buffer.clear()
        self.guard_deadline = None
        self.guard_life += 1
        self.device = None
        self.agent.crash()
        self.incarnation += 1

    def reboot_after_reset(self, incarnation: int) -> None:
        if not self.up and self.incarnation == incarnation:
            self.boot()

    def crash_daemon(self) -> None:
        """cmcld alone dies (kill -9, OOM): its packages' processes and the lease guard
        run on; the guard still stops them at the deadline it was last told."""
        self.world.trace(f"{self.name}: cmcld crashes (packages and guard survive)")
        self.up = False
        self.paused = False
        self.node = None
        self.buffer.clear()
        self.agent.daemon_crash()
        self.incarnation += 1

    def freeze(self) -> None:
        """The whole host stops (VM pause, cgroup freeze of cmcld and guard): nothing of
        it runs and its clock stops. Only its watchdog device counts on (watchdog.py)."""
        if self.frozen_at is not None or not self.up:
            return
        self.frozen_at = self.world.now
        self.freezes += 1
        self.paused = True
        self.world.trace(f"{self.name} freezes")

    def thaw(self) -> None:
        """The host runs again; its clock resumes where it stopped."""
        if self.frozen_at is None:
            return
        world = self.world
        self.clock.offset -= self.clock.local(world.now) - self.clock.local(self.frozen_at)
        self.frozen_at = None
        world.trace(f"{self.name} thaws")
        if self.guard_deadline is not None:
            self._guard(self.guard_deadline)
        if self.device is not None:
            self.device.tick()
        # The core's wake-up was set on the clock before it stopped: set it again.
        self.wake_token += 1
        self.later(self.clock.real(self.wake_at), self._wake, self.wake_token)
        self.resume()

    def stored(self, state: Any) -> None:
        assert isinstance(state, Durable)
        self.durable = state

    def feed_persisted(self, seq: int) -> None:
        self.feed(Persisted(self.local_now(), seq))

    # ------------------------------------------------------------------ messages

    def deliver(self, sender: str, message: Any) -> None:
        if self.node is None:
            return  # cmcld is still stopping what its predecessor left: not listening
        if isinstance(message, _ANSWERS) and message.granted:
            self.world.checker.on_granted_answer(
                self.name, sender, message.epoch, message.echo_send_time
            )
        if isinstance(message, _AGENT):
            self.agent.on_message(sender, message)
        else:
            self.feed(Received(self.local_now(), sender, message))

    def send(self, to: str, message: Any) -> None:
        self.world.send(self.name, to, message)

    def command(self, command: Command) -> None:
        self.feed(Operator(self.local_now(), command))

    def feed(self, event: Event) -> None:
        assert self.node is not None
        before = self.node.durable.acceptor
        self.apply(self.node.handle(event), before)

    # ------------------------------------------------------------------- effects

    def apply(self, effects: list[Effect], acceptor: AcceptorState | None = None) -> None:
        """Perform effects in order. `acceptor` is the acceptor state before them; each
        Persist moves it on, so a granted Pong is checked against the state it saw."""
        world = self.world
        for effect in effects:
            if isinstance(effect, Send):
                message = effect.message
                if isinstance(message, Pong) and message.granted and acceptor is not None:
                    world.checker.on_granting(world.now, self.name, message.epoch, acceptor)
                world.send(self.name, effect.to, message)
            elif isinstance(effect, WakeAt):
                self.wake_token += 1
                self.wake_at = effect.at
                self.later(self.clock.real(effect.at), self._wake, self.wake_token)
            elif isinstance(effect, Persist):
                self.write(effect.seq, effect.state)
                if isinstance(effect.state, Durable):
                    acceptor = effect.state.acceptor
            elif isinstance(effect, (LeaseGained, LeaseChanged)):
                if isinstance(effect, LeaseGained):
                    world.trace(f"{self.name} gains its lease in epoch {effect.epoch}")
                world.checker.on_lease(world.now, self.name, effect)
                world.lease_log.append((world.now, self.name, effect.basis_epoch))
                self._guard(effect.deadline)
            elif isinstance(effect, LeaseLost):
                world.trace(f"{self.name} loses its lease: {effect.reason}")
                self.guard_deadline = None
                halting = self.node is not None and self.node.intent in (
                    Intent.LEAVE,
                    Intent.HALTED,
                )
                if self.device is not None and halting:
                    self.device.disarmed()  # a clean halt: the guard is disarmed
                self.agent.stop_all("lease lost")
            elif isinstance(effect, MembershipDecided):
                world.checker.on_decided(world.now, self.name, effect.membership)
                self.agent.on_decided(effect.membership)
            elif isinstance(effect, TakeoverAllowed):
                world.takeovers.append((world.now, self.name, effect, self.clock.real(effect.at)))
                self.agent.on_takeover(effect.node, effect.epoch, effect.at)
            elif isinstance(effect, CommandDone):
                self.commands.append(effect)
                halted = isinstance(effect.command, (HaltNode, HaltCluster)) and effect.ok
                if halted and self.device is not None:
                    self.device.disarmed()
                world.trace(f"{self.name} command {effect.command} ok={effect.ok}: {effect.detail}")
            elif isinstance(effect, Note):
                world.trace(effect.text)

    def _wake(self, token: int) -> None:
        if token == self.wake_token and self.node is not None:
            self.feed(Tick(self.local_now()))

    def _guard(self, deadline: int) -> None:
        """The guard process: told every deadline, it stops the tokens at deadline -
        stop margin unless told a new deadline first, whatever cmcld is doing."""
        self.guard_deadline = deadline
        if self.device is not None:
            self.device.renewed(deadline)
        if deadline >= FOREVER or self.name in self.world.cfg.guardless:
            return
        at = self.clock.real(deadline - self.world.cfg.timing.stop_margin)
        self.world.at(max(at, self.world.now), self._guard_fires, self.guard_life, deadline)

    def _guard_fires(self, life: int, deadline: int) -> None:
        if self.frozen_at is not None:
            return  # frozen too: thaw arms it again
        if life == self.guard_life and self.guard_deadline == deadline:
            self.guard_deadline = None
            self.agent.stop_all("guard: lease deadline", guard=True)
            if self.device is not None:
                self.device.fired()

    # ------------------------------------------------------------------ agent timers

    def agent_timer(self, delay: int, fn: Callable[..., None], *args: Any) -> None:
        self.agent_timer_at(self.local_now() + delay, fn, *args)

    def agent_timer_at(self, local_at: int, fn: Callable[..., None], *args: Any) -> None:
        self.later(self.clock.real(local_at), fn, *args)


class QsHost(Process):
    def __init__(self, world: "World", clock: Clock) -> None:
        super().__init__(world, QUORUM_SERVER, clock)
        self.server: QuorumServer | None = None
        self.durable: QuorumDurable | None = None
        self.kept: QuorumDurable | None = None  # an old copy, for a rollback

    def boot(self) -> None:
        self.up = True
        self.incarnation += 1
        rng = Random(f"{self.world.seed}/qs/{self.incarnation}")
        self.server = QuorumServer(self.local_now(), self.durable, rng)
        self.world.trace("quorum server boots")
        self._apply(self.server.start())

    def crash(self) -> None:
        self.world.trace("quorum server crashes")
        self.up = False
        self.server = None
        self.buffer.clear()
        self.incarnation += 1

    def stored(self, state: Any) -> None:
        assert isinstance(state, QuorumDurable)
        self.durable = state

    def feed_persisted(self, seq: int) -> None:
        self._apply(self._server().handle(Persisted(self.local_now(), seq)))

    def _server(self) -> QuorumServer:
        assert self.server is not None
        return self.server

    def deliver(self, sender: str, message: Any) -> None:
        if isinstance(message, QuorumPing) and not message.probe:
            self.world.qs_pings += 1  # lease pings: the hello every MT is not one
        self._apply(self._server().handle(Received(self.local_now(), sender, message)))

    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                message = effect.message
                if isinstance(message, QuorumPong) and message.granted:
                    cluster = self._server().clusters[self.world.cfg.cluster_name]
                    self.world.checker.on_granting(
                        self.world.now, self.name, message.epoch, cluster.acceptor
                    )
                self.world.send(self.name, effect.to, message)
            elif isinstance(effect, Persist):
                self.write(effect.seq, effect.state)
            elif isinstance(effect, Note):
                self.world.trace(f"quorum server: {effect.text}")


class World:
    def __init__(self, cfg: SimConfig, seed: int, trace: bool = False) -> None:
        self.cfg = cfg
        self.seed = seed
        self.rng = Random(seed)
        self.now = 0
        # (real time, seq, fn, args): plain tuples so the heap compares in C
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.tracing = trace
        self.log: list[str] = []
        self.net = Network(Random(self.rng.random()))
        self.checker = Checker(cfg.quorum_server, cfg.timing.member_timeout)
        self.takeovers: list[tuple[int, str, TakeoverAllowed, int]] = []
        self.lease_log: list[tuple[int, str, int]] = []  # real time, node, basis epoch
        self.refused_orders = 0  # package orders a node answered with a refusal
        self.qs_pings = 0  # pings the quorum server received
        rho = cfg.timing.rho_ppm if cfg.clock_ppm is None else cfg.clock_ppm

        def rate() -> int:
            return rho * self.rng.randint(0, 1) if cfg.clock_extremes else self.rng.randint(0, rho)

        tokens = [f"pkg{i}" for i in range(1, cfg.tokens + 1)]
        prefs = {t: tuple(self.rng.sample(cfg.nodes, len(cfg.nodes))) for t in tokens}
        self.layout = sim_layout(cfg.nodes, prefs)  # the applied configuration (cmapplyconf)
        self.hosts: dict[str, Host] = {}
        for name in cfg.nodes:
            clock = Clock(self.rng.randint(0, 10**15), rate())
            self.hosts[name] = Host(self, name, clock, prefs)
        self.qs: QsHost | None = None
        self.endpoints: dict[str, Host | QsHost] = dict(self.hosts)
        if cfg.quorum_server:
            self.qs = QsHost(self, Clock(self.rng.randint(0, 10**15), rate()))
            self.endpoints[QUORUM_SERVER] = self.qs
            self.at(0, self.qs.boot)  # the quorum server runs before the cluster starts

    # ---------------------------------------------------------------- event queue

    def at(self, real: int, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (real, self._seq, fn, args))

    def run_until(self, end: int) -> None:
        queue = self._queue
        pop = heapq.heappop
        while queue and queue[0][0] <= end:
            at, _, fn, args = pop(queue)
            self.now = at
            fn(*args)
        self.now = max(self.now, end)

    def trace(self, text: str) -> None:
        if self.tracing:
            line = f"{self.now / 1e6:12.3f}ms  {text}"
            self.log.append(line)
            print(line)

    # ------------------------------------------------------------------- network

    def send(self, src: str, dst: str, message: Any) -> None:
        target = self.endpoints.get(dst)
        if target is None:
            return
        kind = type(message).__name__ if self.net.drop_kinds else ""
        for delay in self.net.delays(src, dst, kind):
            self.at(self.now + delay, self._arrive, target, src, message)

    def _arrive(self, target: Host | QsHost, src: str, message: Any) -> None:
        if self.tracing and not isinstance(message, (*_ANSWERS, Ping, QuorumPing)):
            self.trace(f"{src} -> {target.name}: {message}")
        target.call(target.incarnation, target.deliver, src, message)

    # ---------------------------------------------------------------- observation

    def decided(self) -> Membership | None:
        if not self.checker.decided:
            return None
        return self.checker.decided[max(self.checker.decided)]

    def describe(self) -> str:
        """One line per node and token: what the liveness check looks at."""
        lines = []
        for name, host in sorted(self.hosts.items()):
            node = host.node
            if node is None:
                lines.append(f"{name}: down")
                continue
            lines.append(
                f"{name}: epoch {node.decided_membership().epoch} intent {node.intent.value} "
                f"active {node.active} lease {node.holds_lease(host.local_now())} "
                f"paused {host.paused} holds {sorted(host.agent.held)}"
            )
        for token in sorted(p.name for p in self.layout.packages):
            lines.append(f"{token}: {self.checker.holder(token, self.now)}")
        return "; ".join(lines)

    def converged(self, expected: set[str]) -> bool:
        """Every expected node up, active with a lease in one decided membership made
        of exactly them, and every token held by one of them."""
        first: Membership | None = None
        for name in expected:
            host = self.hosts[name]
            node = host.node
            if node is None or host.paused or not host.up:
                return False
            m = node.decided_membership()
            if first is None:
                first = m
                if set(m.members) != expected:
                    return False
            elif m != first:
                return False
            if not node.active or not node.holds_lease(host.local_now()):
                return False
        for token in (p.name for p in self.layout.packages):
            holder = self.checker.holder(token, self.now)
            if holder is None or holder not in expected:
                return False
        return True
