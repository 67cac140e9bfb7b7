"""Heartbeat bookkeeping, failure detection and leases.

A node pings every configured peer each heartbeat; the answer echoes the ping's send
time. Two things follow from the answers, both measured from that *send* time on our
own clock, so a slow or late message can only shorten what it proves:

- who we hear: a peer whose newest answer (granted or not) echoes a ping sent less
  than MEMBER_TIMEOUT ago. A member we stop hearing has failed.
- our lease: while a quorum of the acceptors of our epoch (ourselves counted) granted
  an answer to a ping we sent less than MT ago. The deadline is the k-th newest such
  send time plus MT.
"""

import bisect
from dataclasses import dataclass

from cluster.core.messages import QUORUM_SERVER, Intent
from cluster.core.timing import Timing

FOREVER = 1 << 62
"""A deadline that never comes: the lease of a one-node membership."""


@dataclass
class PeerInfo:
    """What a peer's newest ping said about it."""

    epoch: int
    active: bool
    intent: Intent
    send_time: int  # the peer's clock: only compared with its own earlier pings


class Heartbeats:
    """Who answers us and what our peers say of themselves."""

    def __init__(self, me: str, peers: tuple[str, ...], timing: Timing) -> None:
        self.me = me
        self.peers = peers
        self.timing = timing
        self.last_heard: dict[str, int] = {}
        self.info: dict[str, PeerInfo] = {}
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def answered(self, peer: str, echo_send_time: int) -> None:
        if echo_send_time > self.last_heard.get(peer, -FOREVER):
            self.last_heard[peer] = echo_send_time

    def pinged(self, peer: str, epoch: int, active: bool, intent: Intent, send_time: int) -> None:
        known = self.info.get(peer)
        if known is None or send_time >= known.send_time:
            self.info[peer] = PeerInfo(epoch, active, intent, send_time)

    def heard(self, peer: str, now: int) -> bool:
        if peer == self.me:
            return True
        return self.last_heard.get(peer, -FOREVER) > now - self.timing.member_timeout

    def hears(self, now: int) -> frozenset[str]:
        """Ourselves and every peer that answered a ping sent less than MT ago."""
        horizon = now - self.timing.member_timeout
        return frozenset([self.me] + [p for p, t in self.last_heard.items() if t > horizon])

    def first_silence(self, nodes: tuple[str, ...], now: int) -> int | None:
        """Earliest time at which one of `nodes`, heard now, stops being heard."""
        mt = self.timing.member_timeout
        times = [
            self.last_heard[n] + mt
            for n in nodes
            if n != self.me and n in self.last_heard and self.last_heard[n] + mt > now
        ]
        return min(times) if times else None


@dataclass(frozen=True)
class LeaseBasis:
    """Which epoch's answers make a deadline, and whose (for logs and the simulator)."""

    epoch: int
    deadline: int
    support: frozenset[str]


class Lease:
    """The lease of an active member of epoch `epoch`.

    `carried` is the deadline held when the node moved from the previous epoch into
    this one: answers already granted stay valid until they expire, so a reformation
    does not interrupt a member's lease. The new coordinator's takeover wait already
    accounts for leases of earlier epochs (they end MT x (1 + rho) after the decision).
    """

    def __init__(
        self,
        epoch: int,
        me: str,
        *,
        acceptors: frozenset[str],
        quorum: int,
        timing: Timing,
        carried: LeaseBasis | None = None,
    ) -> None:
        self.epoch = epoch
        self.me = me
        self.acceptors = acceptors
        self.quorum = quorum
        self.timing = timing
        self.carried = carried
        self.support: dict[str, int] = {me: FOREVER}
        self._times: list[int] = [FOREVER]  # sorted support times, ourselves included

    def _set(self, node: str, send_time: int) -> bool:
        old = self.support.get(node)
        if old is not None:
            if send_time <= old and node != self.me:
                return False
            del self._times[bisect.bisect_left(self._times, old)]
        self.support[node] = send_time
        bisect.insort(self._times, send_time)
        return True

    def granted(self, node: str, echo_send_time: int) -> bool:
        """Record a granted answer from acceptor `node`; true if it was news."""
        if node == self.me or node not in self.acceptors:
            return False
        return self._set(node, echo_send_time)

    def stop_self_support(self, at: int) -> None:
        """We promised for the next epoch: like any acceptor, we stop answering our own
        pings of this epoch from `at` on."""
        if self.support[self.me] > at:
            self._set(self.me, at)

    def own_deadline(self) -> int | None:
        if len(self._times) < self.quorum:
            return None
        kth = self._times[-self.quorum]
        return FOREVER if kth >= FOREVER else kth + self.timing.member_timeout

    def basis(self) -> LeaseBasis | None:
        """The best of this epoch's deadline and the carried one, with its support."""
        own = self.own_deadline()
        if own is not None and (self.carried is None or own >= self.carried.deadline):
            kth = self._times[-self.quorum]
            support = frozenset(n for n, t in self.support.items() if t >= kth)
            return LeaseBasis(self.epoch, own, support)
        return self.carried

    def deadline(self) -> int | None:
        own = self.own_deadline()
        if self.carried is None:
            return own
        return self.carried.deadline if own is None else max(own, self.carried.deadline)

    def answering(self, now: int) -> int:
        """Acceptors (ourselves included, the quorum server not) whose grants are fresh."""
        horizon = now - self.timing.suspect_after
        return sum(1 for n, t in self.support.items() if t > horizon and n != QUORUM_SERVER)
