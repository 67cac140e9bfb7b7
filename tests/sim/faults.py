"""Faults and operator actions as data, and the random mix a seed draws.

The same actions serve the random runs and the scenario files: a run is a list of
(real time, action) applied to a `World`, then a heal that undoes every fault, then a
bounded wait for the cluster to gather every node again.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random

from cluster.core.effects import Command, HaltCluster, HaltNode, RunCluster, RunNode
from cluster.core.messages import QUORUM_SERVER
from cluster.core.policy_model import PackageSpec
from cluster.core.session_model import Layout
from cluster.core.timing import MS, SECOND, Timing
from tests.sim.world import Host, SimConfig, World


@dataclass(frozen=True)
class Boot:
    node: str


@dataclass(frozen=True)
class Crash:
    node: str  # a node name or QUORUM_SERVER


@dataclass(frozen=True)
class Restart:
    node: str


@dataclass(frozen=True)
class Pause:
    node: str


@dataclass(frozen=True)
class KeepQs:
    """Someone copies the quorum server's state file (a backup)."""


@dataclass(frozen=True)
class LoseQs:
    """The quorum server stops and its state is lost (`rollback`: replaced by the last
    copy kept, or lost if none); `Restart(QUORUM_SERVER)` starts it again."""

    rollback: bool = False


@dataclass(frozen=True)
class Resume:
    node: str


@dataclass(frozen=True)
class Partition:
    groups: tuple[frozenset[str], ...]  # the quorum server, if in none, reaches all


@dataclass(frozen=True)
class Cut:
    src: str
    dst: str
    both: bool = True


@dataclass(frozen=True)
class Lossy:
    loss: float  # on every link
    dup: float = 0.0
    spikes: float = 0.01
    spike_max: int = 30 * MS  # a late message is late by up to this


@dataclass(frozen=True)
class DropKinds:
    """Lose every message of these classes (an adversary aimed at one protocol step)."""

    kinds: frozenset[str]


@dataclass(frozen=True)
class HealNetwork:
    pass


@dataclass(frozen=True)
class Operate:
    node: str
    command: Command


@dataclass(frozen=True)
class Leave:
    """cmhaltnode as the daemon does it: halt the node's packages, then HaltNode."""

    node: str


@dataclass(frozen=True)
class CrashDaemon:
    """cmcld alone dies; its packages and lease guard run on (`Restart` starts it)."""

    node: str


@dataclass(frozen=True)
class Freeze:
    """The whole host stops, cmcld, guard and clock together (`Thaw` resumes it)."""

    node: str


@dataclass(frozen=True)
class Thaw:
    node: str


@dataclass(frozen=True)
class DiskStall:
    """The host's disk completes no write for `seconds` (a full or hung /var)."""

    node: str
    nanoseconds: int


@dataclass(frozen=True)
class FailPackages:
    """Every package running on `node` fails there (its service out of restarts)."""

    node: str


@dataclass(frozen=True)
class Reconfigure:
    """cmapplyconf: add a package, remove one, or change the order of its node list.
    Every node applies the new generation at its own moment within `spread` (the
    two-phase apply commits node by node). Removing a package that runs or is held
    anywhere is refused, as cmapplyconf now refuses it (unless `legacy` has
    "remove-running")."""

    change: str  # "add", "remove" or "reorder"
    package: str
    spread: int = 50 * MS


@dataclass(frozen=True)
class Expect:
    """A check at a point of a scenario; `test` returns a complaint or None."""

    text: str
    test: Callable[[World], str | None] = field(compare=False)


Action = (
    Expect
    | Boot
    | Crash
    | Restart
    | Pause
    | Resume
    | KeepQs
    | LoseQs
    | Partition
    | Cut
    | Lossy
    | HealNetwork
    | DropKinds
    | Operate
    | Leave
    | CrashDaemon
    | Freeze
    | Thaw
    | DiskStall
    | FailPackages
    | Reconfigure
)


def apply(world: World, action: Action) -> None:
    world.trace(f"ACTION {action}")
    everyone = set(world.endpoints)
    if isinstance(action, Expect):
        complaint = action.test(world)
        if complaint:
            world.checker.fail(world.now, f"expected {action.text!r}: {complaint}")
    elif isinstance(action, Boot):
        world.hosts[action.node].boot()
    elif isinstance(action, Crash):
        proc = world.qs if action.node == QUORUM_SERVER else world.hosts[action.node]
        if proc is not None and proc.up:
            proc.crash()
    elif isinstance(action, Restart):
        proc = world.qs if action.node == QUORUM_SERVER else world.hosts[action.node]
        if proc is not None and not proc.up:
            proc.boot()
    elif isinstance(action, KeepQs):
        if world.qs is not None:
            world.qs.kept = world.qs.durable
    elif isinstance(action, LoseQs):
        if world.qs is not None:
            if world.qs.up:
                world.qs.crash()
            world.qs.durable = world.qs.kept if action.rollback else None
    elif isinstance(action, Pause):
        host = world.hosts[action.node]
        if host.up:
            host.pause()
    elif isinstance(action, Resume):
        host = world.hosts[action.node]
        if host.up and host.paused and host.frozen_at is None:  # a frozen host waits to thaw
            host.resume()
    elif isinstance(action, Partition):
        world.net.partition([set(g) for g in action.groups], everyone)
    elif isinstance(action, Cut):
        world.net.cut.add((action.src, action.dst))
        if action.both:
            world.net.cut.add((action.dst, action.src))
    elif isinstance(action, Lossy):
        world.net.loss = action.loss
        world.net.dup = action.dup
        world.net.spike_p = action.spikes
        world.net.spike_max = action.spike_max
    elif isinstance(action, DropKinds):
        world.net.drop_kinds |= action.kinds
    elif isinstance(action, HealNetwork):
        world.net.heal()
    elif isinstance(action, Operate):
        host = world.hosts[action.node]
        if host.up and host.node is not None:
            host.call(host.incarnation, host.command, action.command)
    elif isinstance(action, CrashDaemon):
        host = world.hosts[action.node]
        if host.up and host.frozen_at is None:
            host.crash_daemon()
    elif isinstance(action, Freeze):
        world.hosts[action.node].freeze()
    elif isinstance(action, Thaw):
        host = world.hosts[action.node]
        if host.frozen_at is not None:
            host.thaw()
    elif isinstance(action, DiskStall):
        host = world.hosts[action.node]
        host.stalled_until = max(host.stalled_until, world.now + action.nanoseconds)
        host.disk_busy_until = max(host.disk_busy_until, host.stalled_until)
    elif isinstance(action, Reconfigure):
        reconfigure(world, action)
    elif isinstance(action, FailPackages):
        host = world.hosts[action.node]
        if host.up:
            host.agent.fail_running()
    elif isinstance(action, Leave):
        host = world.hosts[action.node]
        if host.up and host.node is not None:
            done = host.agent.stop_all("cmhaltnode")
            host.later(done, host.command, HaltNode())


def reconfigure(world: World, change: Reconfigure) -> None:
    """Apply a configuration change, unless cmapplyconf would refuse it."""
    layout = world.layout
    specs = {p.name: p for p in layout.packages}
    name = change.package
    rng = Random(f"{world.seed}/config/{layout.generation}")
    if change.change == "add" and name not in specs:
        specs[name] = PackageSpec(name, tuple(rng.sample(world.cfg.nodes, len(world.cfg.nodes))))
    elif change.change == "reorder" and name in specs:
        nodes = list(specs[name].nodes)
        rng.shuffle(nodes)
        specs[name] = dataclasses.replace(specs[name], nodes=tuple(nodes))
    elif change.change == "remove" and name in specs:
        held = {h.name for h in world.hosts.values() if name in h.agent.held}
        holder = world.checker.holder(name, world.now)
        if holder is not None:
            held.add(holder)
        if held and "remove-running" not in world.cfg.legacy:
            world.trace(f"cmapplyconf refused: {name} is held on {sorted(held)}")
            return
        del specs[name]
    else:
        return
    world.layout = Layout(
        generation=layout.generation + 1,
        nodes=layout.nodes,
        packages=tuple(specs[n] for n in sorted(specs)),
        auto_run=dict.fromkeys(specs, True),
    )
    world.trace(f"configuration generation {world.layout.generation}: {change.change} {name}")
    for host in world.hosts.values():
        delay = rng.randint(0, change.spread)
        world.at(world.now + delay, _commit, host, world.layout)


def _commit(host: Host, layout: Layout) -> None:
    if host.up and host.node is not None and host.agent.layout.generation < layout.generation:
        host.call(host.incarnation, host.agent.configure, layout)


@dataclass
class Plan:
    """A run: configuration, timed actions, when the faults end, how long to wait."""

    cfg: SimConfig
    actions: list[tuple[int, Action]]
    heal_at: int
    expected: frozenset[str]  # nodes that must be back in one membership after heal
    # (after the heal an operator runs cmruncl on a halted cluster and cmrunnode on halted
    # nodes, as one would; see runner.operate)
    settle: int  # liveness bound after heal_at
    label: str = ""


def liveness_bound(timing: Timing) -> int:
    """How long after the last fault heals every node must be back (see README)."""
    return 4 * timing.member_timeout + 20 * timing.heartbeat


def node_names(n: int) -> tuple[str, ...]:
    return tuple(f"n{i:02d}" for i in range(1, n + 1))


def random_plan(seed: int, nodes: int | None = None, big: bool = False) -> Plan:
    """The mixed-fault run that `seed` stands for."""
    rng = Random(seed)
    n = nodes or (rng.choice([64, 48, 32]) if big else rng.choice(_SIZES))
    qs = rng.random() < 0.5
    mt = SECOND
    timing = Timing.for_member_timeout(mt, heartbeat=rng.choice([mt // 10, mt // 10, mt // 5]))
    names = node_names(n)
    cfg = SimConfig(names, qs, timing, tokens=rng.randint(1, 4))
    cfg.clock_extremes = rng.random() < 0.3  # every clock at 0 or rho: worst ratios
    host_faults = Random(seed * 7919 + 1)  # drawn apart, so the other draws stay as they were
    cfg.watchdog = host_faults.random() < 0.5
    if host_faults.random() < 0.2:  # one host's halts leave resources held for a while
        cfg.unclean_hosts = frozenset({host_faults.choice(names)})
        cfg.unclean_for = host_faults.randint(100 * MS, 2 * SECOND)
    if host_faults.random() < 0.3:
        # Packages whose stop-now may take up to `declared` (a filesystem, an OCF agent):
        # STOP_MARGIN is derived from it, as cmapplyconf does (config/stopbound.py).
        declared = host_faults.randint(mt // 10, mt // 2)
        margin = max(timing.stop_margin, declared)
        cfg.timing = timing = Timing.for_member_timeout(
            mt, heartbeat=timing.heartbeat, stop_margin=margin
        )
        cfg.stop_factor = declared / margin
    if rng.random() < 0.2:
        cfg.persist_delay = (MS, 60 * MS)  # a slow disk
    actions: list[tuple[int, Action]] = []
    if rng.random() < 0.8:
        for name in names:
            actions.append((rng.randint(0, 100 * MS), Boot(name)))
    else:  # cmruncl on a halted cluster
        cfg.auto_start = False
        for name in names:
            actions.append((rng.randint(0, 100 * MS), Boot(name)))
        actions.append((300 * MS, Operate(rng.choice(names), RunCluster())))
    start = 3 * SECOND // 2  # formation takes about 0.3 s
    window = rng.randint(2, 3 if big else 6) * SECOND
    heal_at = start + window
    crashed: set[str] = set()
    count = rng.randint(1, 3 if big else 6)
    for _ in range(count):
        t = start + rng.randint(0, window - 1)
        kind = rng.choices(_KINDS, _WEIGHTS)[0]
        victim = rng.choice(names)
        if kind == "crash":
            actions.append((t, Crash(victim)))
            crashed.add(victim)
            if rng.random() < 0.6:
                actions.append((t + rng.randint(50 * MS, 3 * mt), Restart(victim)))
        elif kind == "pause":
            actions.append((t, Pause(victim)))
            actions.append((t + rng.randint(100 * MS, 3 * mt), Resume(victim)))
        elif kind == "partition":
            k = rng.choice([2, 2, 3])
            groups: list[set[str]] = [set() for _ in range(k)]
            for name in names:
                groups[rng.randrange(k)].add(name)
            if qs and rng.random() < 0.5:
                groups[rng.randrange(k)].add(QUORUM_SERVER)
            actions.append((t, Partition(tuple(frozenset(g) for g in groups))))
            if rng.random() < 0.5:
                actions.append((t + rng.randint(100 * MS, 3 * mt), HealNetwork()))
        elif kind == "oneway":
            for _ in range(rng.randint(1, 3)):
                a, b = rng.sample(names, 2)
                actions.append((t, Cut(a, b, both=False)))
        elif kind == "nontransitive":
            for _ in range(rng.randint(1, max(1, n // 3))):
                a, b = rng.sample(names, 2)
                actions.append((t, Cut(a, b)))
        elif kind == "lossy":
            loss = rng.choice([0.05, 0.2, 0.5])
            actions.append((t, Lossy(loss, dup=rng.choice([0.0, 0.1]), spikes=0.05)))
            actions.append((t + rng.randint(100 * MS, 2 * mt), HealNetwork()))
        elif kind == "slow":  # answers late by up to half of MT
            actions.append((t, Lossy(0.0, spikes=0.2, spike_max=mt // 2)))
            actions.append((t + rng.randint(100 * MS, 2 * mt), HealNetwork()))
        elif kind == "qs" and qs:
            actions.append((t, Crash(QUORUM_SERVER)))
            actions.append((t + rng.randint(100 * MS, 3 * mt), Restart(QUORUM_SERVER)))
        elif kind in ("qs-lost", "qs-rollback") and qs:
            rollback = kind == "qs-rollback"
            if rollback:  # a copy from any time before, even before the faults began
                actions.append((rng.randint(MS, t), KeepQs()))
            actions.append((t, LoseQs(rollback)))
            actions.append((t + rng.randint(100 * MS, 3 * mt), Restart(QUORUM_SERVER)))
        elif kind == "daemon":
            actions.append((t, CrashDaemon(victim)))
            actions.append((t + host_faults.randint(10 * MS, 2 * mt), Restart(victim)))
            crashed.add(victim)
        elif kind == "freeze" and cfg.watchdog:
            actions.append((t, Freeze(victim)))
            actions.append((t + host_faults.randint(100 * MS, 3 * mt), Thaw(victim)))
            crashed.add(victim)  # the watchdog may have reset it
        elif kind == "late":  # messages late by more than MT/2
            late = host_faults.randint(mt // 2, 2 * mt)
            actions.append((t, Lossy(0.0, spikes=0.05, spike_max=late)))
            actions.append((t + host_faults.randint(100 * MS, 2 * mt), HealNetwork()))
        elif kind == "stall":
            actions.append((t, DiskStall(victim, host_faults.randint(SECOND // 2, 3 * SECOND))))
        elif kind == "config":
            change = host_faults.choice(["add", "reorder", "reorder", "remove"])
            name = f"pkg{host_faults.randint(1, cfg.tokens + 2)}"
            actions.append((t, Reconfigure(change, name)))
        elif kind == "leave":
            actions.append((t, Leave(victim)))
            if rng.random() < 0.5:
                actions.append((t + rng.randint(mt, 3 * mt), Operate(victim, RunNode())))
        elif kind == "halt" and not big:
            actions.append((t, Operate(victim, HaltCluster())))
    for name in sorted(crashed):
        actions.append((heal_at, Restart(name)))
    for name in names:
        actions.append((heal_at, Resume(name)))
        actions.append((heal_at, Thaw(name)))
    actions.append((heal_at, HealNetwork()))
    if qs:
        actions.append((heal_at, Restart(QUORUM_SERVER)))
    actions.sort(key=lambda a: a[0])
    label = f"{n} nodes, {'with' if qs else 'no'} quorum server, HB {timing.heartbeat // MS} ms"
    return Plan(cfg, actions, heal_at, frozenset(names), liveness_bound(timing), label)


_SIZES = [2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7, 8, 9, 10, 12, 16]
_KINDS = [
    "crash",
    "pause",
    "partition",
    "oneway",
    "nontransitive",
    "lossy",
    "slow",
    "qs",
    "leave",
    "halt",
    "qs-lost",
    "qs-rollback",
]
_WEIGHTS = [5, 3, 4, 2, 2, 2, 1, 2, 2, 1, 2, 2]
# Issue 13's host faults: cmcld alone crashing, a whole host frozen (only with a
# watchdog: without one nothing can stop a frozen host's packages, and cmcheckconf says
# so), messages later than MT/2, a disk that completes no write for seconds.
_KINDS += ["daemon", "freeze", "late", "stall", "config"]
_WEIGHTS += [3, 3, 1, 1, 3]
