"""cmcld's membership: the core's MemberNode driven by real messages, clocks and disk.

One task owns the core. It takes events (messages from the heartbeat streams and the
quorum server, timer ticks, operator commands, completed persists) one at a time and
performs the returned effects in order: sends go out at once (the core itself holds
back what depends on a persist), a persist is written and fsync'd before its
`Persisted` is fed back, lease changes renew the guard, and every decision is logged
as one sentence.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cluster.config.model import Config
from cluster.config.online import Running
from cluster.config.stopbound import watchdog_timeout_ns
from cluster.core import events as alert
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
    Received,
    Send,
    TakeoverAllowed,
    Tick,
    WakeAt,
)
from cluster.core.messages import (
    NEVER_FORMED,
    QUORUM_SERVER,
    Accept,
    Intent,
    Membership,
    Message,
    Prepare,
)
from cluster.core.node import MemberNode
from cluster.core.spec import ClusterSpec
from cluster.core.timing import Timing, TimingError
from cluster.daemon import durable
from cluster.daemon.configstore import ConfigStore
from cluster.daemon.leaseguard import GuardLink
from cluster.daemon.memberconf import heartbeat_paths, timing_of
from cluster.daemon.qslink import QuorumServerLink
from cluster.errors import CmError
from cluster.paths import HostPaths
from cluster.security.pem import Credentials
from cluster.transport.heartbeat import HeartbeatLinks
from cluster.transport.stats import TransportStats

log = logging.getLogger("cmcld.membership")

LEASES_LOST = "leases_lost"
FORGED_BALLOTS = "forged_ballots"
WAKE_SLACK = 0.0002  # seconds added to timer waits, so they never end early


@dataclass
class LeaseState:
    epoch: int = 0
    deadline: int = 0
    held: bool = False


@dataclass
class Pending:
    command: Command
    done: asyncio.Future[tuple[bool, str]]
    notes: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


QS_ANNOUNCE = 5.0  # seconds to tell the quorum server of a new configuration


class MembershipDriver:
    """The membership of this node in the applied configuration's cluster."""

    def __init__(
        self,
        *,
        node: str,
        paths: HostPaths,
        store: ConfigStore,
        credentials: Credentials,
        stats: TransportStats,
        port: int,
        auto_start: bool,
        on_newer_config: Callable[[], None],
        guard: GuardLink | None = None,
    ) -> None:
        self.node = node
        self._paths = paths
        self._store = store
        self._credentials = credentials
        self._stats = stats
        self._auto_start = auto_start
        self._on_newer_config = on_newer_config
        self._guard = guard
        self._state_file = paths.state_dir / "membership.json"
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._wake: int | None = None
        self.core: MemberNode | None = None
        self.config: Config | None = None
        self.timing: Timing | None = None
        self.lease = LeaseState()
        self.quorum = QuorumServerLink(
            paths=paths,
            store=store,
            credentials=credentials,
            deliver=lambda m: self._events.put_nowait(
                Received(time.monotonic_ns(), QUORUM_SERVER, m)
            ),
            decided=self.decided,
        )
        self.quorum.node = node
        self.last_event = ""
        self._pending: Pending | None = None
        self._halting = False
        self.failed_nodes: set[str] = set()  # left a membership without leaving it
        self._guard_deadline: int | None = None  # the last deadline the guard was given
        # Packages follow the membership: these are set by cmcld's main.
        self.on_decided: list[Callable[[Membership], None]] = []
        self.previous = Membership(0)  # the membership before the last decided one
        self.on_takeover: Callable[[str, int, int], None] = lambda node, epoch, at: None
        self.on_lease_lost: Callable[[str], object] = lambda why: None
        self.on_event: Callable[[alert.Event], None] = lambda event: None  # alert scripts
        self.running_packages: Callable[[], dict[str, frozenset[str]]] = dict
        self.links = HeartbeatLinks(
            node=node,
            cluster_name=lambda: store.cluster_name,
            generation=lambda: store.generation,
            credentials=credentials,
            port=port,
            deliver=self._deliver,
            on_generation=self._peer_generation,
            stats=stats,
        )

    # -- configuration ----------------------------------------------------------------

    def load_durable(self) -> Durable | None:
        """The durable state on disk, if it belongs to the applied cluster."""
        state = durable.load(self._state_file)  # CmError when unreadable: stop
        if state is not None and not isinstance(state, Durable):
            raise CmError(f"{self._state_file}: holds a quorum server's state, not a node's")
        return state

    def reconfigure(self) -> None:
        """Follow the applied configuration: (re)build the core while this node is not
        an active member; an active member keeps its core until it leaves."""
        config = self._store.config
        self.quorum.announce()
        if config == self.config:
            return
        if self.core is not None and self.core.active:
            if (
                config is not None
                and self.config is not None
                and config.cluster == self.config.cluster
            ):
                self.config = config  # a package change: nothing for the membership
                return
            log.warning(
                "configuration generation %d applied; membership keeps the running "
                "cluster's settings until this node leaves it",
                self._store.generation,
            )
            return
        self.config = config
        self.core = None
        if config is None or config.cluster.node(self.node) is None:
            self.links.set_paths([])
            log.info("no cluster configuration for this node: membership idle")
            return
        try:
            self.timing = timing_of(config)
        except TimingError as exc:
            log.error("membership disabled: %s", exc)
            return
        spec = ClusterSpec(
            config.cluster.name,
            tuple(sorted(config.cluster.node_names)),
            quorum_server=config.cluster.qs_host is not None,
            generation=self._store.generation,
        )
        state = self.load_durable()
        if state is not None and not (set(state.decided.members) <= set(spec.nodes)):
            log.warning(
                "membership state of another cluster layout (%s) set aside",
                state.decided.describe(),
            )
            state = None
        now = time.monotonic_ns()
        self.core = MemberNode(
            self.node,
            spec,
            self.timing,
            random.Random(os.urandom(16)),
            now=now,
            durable=state,
            auto_start=self._auto_start,
        )
        self._auto_start = False  # AUTO_START is for the boot, not for every reconfiguration
        self.quorum.setup(config)
        if self._guard is not None:
            t = self.timing
            self._guard.set_margin(t.stop_margin, watchdog_timeout_ns(config), t.member_timeout)
        self.links.set_paths(heartbeat_paths(config, self.node))
        log.info(
            "membership of cluster %s: %d nodes, MEMBER_TIMEOUT %.1f s, heartbeat %.2f s, "
            "STOP_MARGIN %.0f ms%s",
            spec.name,
            len(spec.nodes),
            self.timing.member_timeout / 1e9,
            self.timing.heartbeat / 1e9,
            self.timing.stop_margin / 1e6,
            f", quorum server {config.cluster.qs_host}" if config.cluster.qs_host else "",
        )
        self._events.put_nowait(Tick(now))  # the core's first pings and timers

    def renew(self, credentials: Credentials) -> None:
        """A new certificate of this node (SIGHUP): for new heartbeat connections and a
        new channel to the quorum server."""
        self._credentials = credentials
        self.links.renew(credentials)
        self.quorum.renew(credentials, self.config)

    # -- events in -----------------------------------------------------------------------

    def _deliver(self, peer: str, message: Message) -> None:
        # A node votes only as itself: a ballot names its proposer, and only that node
        # (its certificate) may send it.
        if isinstance(message, (Prepare, Accept)) and message.ballot.proposer != peer:
            count = self._stats.add(FORGED_BALLOTS)
            log.warning(
                "dropped a %s from %s carrying %s's ballot (%d since start)",
                type(message).__name__,
                peer,
                message.ballot.proposer,
                count,
            )
            return
        self._events.put_nowait(Received(time.monotonic_ns(), peer, message))

    def _peer_generation(self, peer: str, generation: int) -> None:
        if generation > self._store.generation:
            log.info(
                "%s has configuration generation %d, this node %d: fetching it",
                peer,
                generation,
                self._store.generation,
            )
            self._on_newer_config()

    async def command(self, command: Command) -> Pending:
        """Hand an operator command to the core; the result arrives in `done`."""
        if self.core is None:
            raise CmError("no cluster configuration is applied on this node (cmapplyconf)")
        if self._pending is not None:
            raise CmError("another cluster command is in progress on this node; try again")
        pending = Pending(command, asyncio.get_running_loop().create_future())
        self._pending = pending
        if isinstance(command, (HaltNode, HaltCluster)):
            self._halting = True
        self._events.put_nowait(Operator(time.monotonic_ns(), command))
        return pending

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        self.reconfigure()
        probe = asyncio.get_running_loop().create_task(
            self.quorum.probe(lambda: self.config, lambda: self.timing)
        )
        try:
            await self._loop()
        finally:
            probe.cancel()

    async def _loop(self) -> None:
        while True:
            timeout = None
            if self._wake is not None:
                # Never early: a tick before the wake time would find nothing due.
                timeout = max(0.0, (self._wake - time.monotonic_ns()) / 1e9) + WAKE_SLACK
            try:
                # Whatever already queued is taken at once: a wait_for per event costs a
                # task and a timer, and a node of 16 takes ~300 events a second.
                event = self._events.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    event = await asyncio.wait_for(self._events.get(), timeout)
                except TimeoutError:
                    event = Tick(time.monotonic_ns())
            if self.core is None:
                continue
            wake_before = self._wake
            effects = self.core.handle(event)
            if (
                isinstance(event, Tick)
                and wake_before is not None
                and event.now >= wake_before
                and not any(isinstance(e, WakeAt) for e in effects)
            ):
                self._wake = None  # the core has nothing more scheduled
            if log.isEnabledFor(logging.DEBUG):
                log.debug("event %s -> %s", _brief(event), ", ".join(_brief(e) for e in effects))
            await self._perform(effects)

    async def _perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self._send(effect.to, effect.message)
            elif isinstance(effect, WakeAt):
                self._wake = effect.at  # replaces any earlier wake-up
            elif isinstance(effect, Persist):
                await asyncio.to_thread(durable.save, self._state_file, effect.state)
                self._events.put_nowait(Persisted(time.monotonic_ns(), effect.seq))
            elif isinstance(effect, (LeaseGained, LeaseChanged)):
                self._lease_renewed(effect.epoch, effect.deadline)
            elif isinstance(effect, LeaseLost):
                await self._lease_lost(effect)
            elif isinstance(effect, MembershipDecided):
                self._decided(effect.membership, effect.previous)
            elif isinstance(effect, TakeoverAllowed):
                wait = max(0.0, (effect.at - time.monotonic_ns()) / 1e9)
                self._say(
                    f"{effect.node}'s packages may start elsewhere in {wait:.1f} s, when its "
                    f"lease has surely ended (epoch {effect.epoch})"
                )
                self.on_takeover(effect.node, effect.epoch, effect.at)
            elif isinstance(effect, CommandDone):
                self._command_done(effect)
            elif isinstance(effect, Note):
                self._say(effect.text)

    def _send(self, to: str, message: Message) -> None:
        if to == QUORUM_SERVER:
            self.quorum.send(message, self.config, self.timing)
            return
        self.links.send(to, message)

    # -- effects with consequences -------------------------------------------------------

    def _lease_renewed(self, epoch: int, deadline: int) -> None:
        if not self.lease.held:
            self._say(f"lease held in epoch {epoch}")
        self.lease = LeaseState(epoch, deadline, True)
        if self._guard is None:
            return
        # An earlier deadline goes to the guard at once (that is the safe direction);
        # a later one at most every half heartbeat: a slightly stale deadline only
        # makes the guard fire earlier, never later.
        sent = self._guard_deadline
        step = self.timing.heartbeat // 2 if self.timing else 0
        if sent is None or deadline < sent or deadline - sent >= step:
            self._guard.renew(deadline)
            self._guard_deadline = deadline

    async def _lease_lost(self, effect: LeaseLost) -> None:
        self.lease = LeaseState(effect.epoch, effect.deadline, False)
        self._guard_deadline = None
        if self._halting:
            self._say(f"lease surrendered ({effect.reason})")
            # What is still held (a halt cut short, or not clean) is stopped now too;
            # the guard stays armed after an unclean stop (GuardLink.disarm).
            self.on_lease_lost(effect.reason)
            if self._guard is not None:
                self._guard.disarm()
            return
        # Stop-now first, before anything else: the others may start our packages
        # once the deadline has passed (the guard stops them too if we are late).
        self.on_lease_lost(effect.reason)
        self.on_event(
            alert.Event(
                alert.Kind.LEASE_LOST, node=self.node, epoch=effect.epoch, reason=effect.reason
            )
        )
        count = self._stats.add(LEASES_LOST)
        self._say(
            f"LEASE LOST in epoch {effect.epoch} ({effect.reason}): every package here "
            f"was stopped now ({count} since start); {_deadline_words(effect.deadline)}",
            level=logging.ERROR,
        )

    def _decided(self, membership: Membership, previous: Membership) -> None:
        self.previous = previous
        joined = sorted(set(membership.members) - set(previous.members))
        left = sorted(set(previous.members) - set(membership.members))
        assert self.core is not None
        for node in left:
            info = self.core.hb.info.get(node)
            if membership.members and (info is None or info.intent is not Intent.LEAVE):
                self.failed_nodes.add(node)
        self.failed_nodes.difference_update(joined)
        parts = [membership.describe()]
        if joined:
            parts.append(f"joined {','.join(joined)}")
        if left:
            parts.append(f"left {','.join(left)}")
        self._say("; ".join(parts))
        # The cluster's events are raised by the coordinator of the new membership (of
        # the last one when the cluster halted).
        if self.node == (membership.coordinator or previous.coordinator):
            self._membership_events(membership, joined, left)
        for listener in self.on_decided:
            listener(membership)

    def _membership_events(self, m: Membership, joined: list[str], left: list[str]) -> None:
        epoch = m.epoch
        for node in joined:
            self.on_event(alert.Event(alert.Kind.NODE_JOINED, node=node, epoch=epoch, new="member"))
        for node in left:
            failed = node in self.failed_nodes
            kind = alert.Kind.NODE_FAILED if failed else alert.Kind.NODE_LEFT
            why = "no longer heard within MEMBER_TIMEOUT" if failed else "it left"
            self.on_event(alert.Event(kind, node=node, epoch=epoch, old="member", reason=why))
        self.on_event(
            alert.Event(
                alert.Kind.MEMBERSHIP_DECIDED,
                node=self.node,
                epoch=epoch,
                new=",".join(m.members),
                reason=m.describe(),
            )
        )

    def _command_done(self, effect: CommandDone) -> None:
        pending, self._pending = self._pending, None
        halted = isinstance(effect.command, (HaltNode, HaltCluster)) and effect.ok
        if halted and self._guard is not None:
            self._guard.disarm()
        self._halting = False
        self._say(f"{type(effect.command).__name__}: {effect.detail}")
        if pending is not None and not pending.done.done():
            pending.done.set_result((effect.ok, effect.detail))
        if (
            self.config is not None
            and self._store.config != self.config
            and not (self.core and self.core.active)
        ):
            self.reconfigure()

    def _say(self, text: str, level: int = logging.INFO) -> None:
        self.last_event = text
        log.log(level, "%s", text)
        if self._pending is not None:
            self._pending.notes.put_nowait(text)

    # -- reading -------------------------------------------------------------------------

    def cluster_running(self) -> Running | None:
        """What runs, for the online-change rules; None while no cluster runs."""
        core = self.core
        if core is None:
            return None
        now = time.monotonic_ns()
        active_peers = {
            n for n in core.heard_nodes(now) if n in core.hb.info and core.hb.info[n].active
        }
        if not core.active and not active_peers:
            return None
        members = set(core.decided().members) if core.active else active_peers
        return Running(nodes=frozenset(members), packages=self.running_packages())

    def decided(self) -> Membership:
        return self.core.decided() if self.core is not None else NEVER_FORMED

    def holds_lease(self) -> bool:
        """By the clock against the last deadline less STOP_MARGIN (where the guard and
        cmcld begin stop-now, as the core counts it), not by a flag a late loop may not
        have updated yet: a service the guard killed at that moment is the node's
        failure, not the package's, even before cmcld has seen the lease go."""
        margin = self.timing.stop_margin if self.timing else 0
        return self.lease.held and time.monotonic_ns() < self.lease.deadline - margin

    def active(self) -> bool:
        return self.core is not None and self.core.active

    async def close(self) -> None:
        await self.links.close("cmcld stopping", leaving=True)
        await self.quorum.close()


def _brief(item: object) -> str:
    """A short form of an event or effect for debug traces."""
    text = repr(item)
    return text if len(text) < 160 else text[:157] + "..."


def _deadline_words(deadline: int) -> str:
    """Where the lost lease's deadline lies from now, so a log reader (and the tests)
    can tell when the others may take over: "lease deadline in 180 ms" or "... 20 ms ago"."""
    left = round((deadline - time.monotonic_ns()) / 1e6)
    return f"lease deadline in {left} ms" if left >= 0 else f"lease deadline {-left} ms ago"
