"""When the lease guard may feed the watchdog, so that a host frozen with its clock
stopped is reset before anyone else may take its packages over (DESIGN.md §2).

A lease deadline D rests on heartbeats sent at its anchor D - MEMBER_TIMEOUT: others
take over no earlier than MEMBER_TIMEOUT of real time after the anchor. A frozen host
whose clock stopped (a paused VM) cannot tell afterwards that it was frozen: its clock
lags real time by the freeze, so its guard would stop its packages that much late. Only
the device runs on real time. Each feed forgives the freezes since the feed before it
(at most the device timeout T, or the device would have reset the host), so:

    base = the last feed at or before the anchor of the newest deadline
    k    = the feeds since base, this one included
    feed only if  base + (k + 1) x T x (1 + drift) <= D

Then the device resets a host that never feeds again by D in real time, however its
freezes and thaws fell. A healthy host feeds on a renewal once half of T is gone (k = 1,
a fresh anchor); one cut off spends the lease on feeds spaced almost T apart, so it
lives until about its deadline less T, and its guard's stop-now comes first when T
fits in what STOP_MARGIN leaves over the packages' stop-now. Sans-IO: the guard and
the simulator drive it.
"""

from collections import deque
from dataclasses import dataclass, field

from cluster.core.membership import FOREVER
from cluster.core.timing import PPM

DRIFT_PPM = 20_000  # the device's timer against the host's clock, and that clock's rho
HISTORY = 256  # feeds remembered: more since a deadline's anchor could never be allowed


def stretch(ns: int, drift_ppm: int = DRIFT_PPM) -> int:
    """A device duration as the host's clock may see it, rounded up."""
    return ns + -(-ns * drift_ppm // PPM)


def feed_limit(member_timeout: int, heartbeat: int, drift_ppm: int = DRIFT_PPM) -> int:
    """The longest device timeout a healthy host keeps fed: a renewal's anchor may lag
    the feed before it by two heartbeats, and that feed and the new one must both fit
    before the deadline. In the unit of the arguments."""
    return max(0, member_timeout - 2 * heartbeat) * PPM // (2 * (PPM + drift_ppm))


def device_timeout(limit: int, slack: int, step: int) -> int:
    """The timeout to set: a multiple of `step` (a second for WDIOC_SETTIMEOUT) at most
    `limit`, and at most `slack` (STOP_MARGIN less the longest package stop-now) where a
    step fits there, so a host cut off stops its packages before the device resets it.
    0: no timeout the lease allows."""
    best = limit // step * step
    preferred = min(best, slack // step * step)
    return preferred if preferred >= step else best


@dataclass
class FeedRule:
    """The feeds of one armed guard against its newest deadline (module docstring)."""

    timeout: int  # the device's, in ns of the host's clock
    lease: int  # MEMBER_TIMEOUT: a deadline's anchor is this much before it
    drift_ppm: int = DRIFT_PPM
    deadline: int | None = None  # None: not armed, feeds are free
    feeds: deque[int] = field(default_factory=lambda: deque(maxlen=HISTORY))
    # (when, the timeout until then) for each change of the device's timeout: a gap
    # that began before a change forgave up to the timeout then in force.
    earlier: tuple[tuple[int, int], ...] = ()

    @property
    def lead(self) -> int:
        """How long before the device would run out a feed without a renewal is due."""
        return max(self.timeout // 10, 20_000_000)

    def renewed(self, deadline: int) -> None:
        self.deadline = deadline

    def disarmed(self) -> None:
        self.deadline = None

    def allowed(self) -> bool:
        """Whether a feed now keeps the reset of a frozen host by the deadline."""
        deadline = self.deadline
        if deadline is None or deadline >= FOREVER:
            return True
        anchor = deadline - self.lease
        for since, fed in enumerate(reversed(self.feeds)):
            if fed <= anchor:
                timeout = max([self.timeout] + [t for at, t in self.earlier if at > fed])
                return fed + (since + 2) * stretch(timeout, self.drift_ppm) <= deadline
        return False  # no feed known before the anchor (a new guard): wait for a renewal

    def fresh(self) -> bool:
        """A renewal anchored after the last feed arrived (the feed then costs nothing
        the next renewal does not give back)."""
        if self.deadline is None or not self.feeds:
            return True
        return self.deadline - self.lease >= self.feeds[-1]

    def due(self) -> int | None:
        """When to feed next without a renewal (None: never fed yet)."""
        return self.feeds[-1] + self.timeout - self.lead if self.feeds else None

    def should_feed(self, now: int) -> bool:
        """Feed now: armed, when the device would soon run out or on a fresh renewal
        once half its time is gone (a feed sooner spends a T of the lease for little),
        and only if allowed. Unarmed, the caller feeds at its own interval."""
        if self.deadline is None:
            return True
        if not self.feeds:
            return False  # armed before any feed: nothing bounds what a feed forgives
        since = now - self.feeds[-1]
        due = since >= self.timeout - self.lead or (self.fresh() and 2 * since >= self.timeout)
        return due and self.allowed()

    def fed(self, now: int) -> None:
        self.feeds.append(now)
