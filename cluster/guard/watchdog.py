"""The watchdog device as the lease guard holds it: its timeout set to what the lease
allows and read back, fed by writes, disarmed by the magic close; the feed rule of
cluster/core/watchdog.py decides when a feed is allowed while the guard is armed."""

import contextlib
import fcntl
import os
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from cluster.core.watchdog import HISTORY, FeedRule

WDIOC_SETTIMEOUT = 0xC0045706  # _IOWR('W', 6, int)
WDIOC_GETTIMEOUT = 0x80045707  # _IOR('W', 7, int)
PACK = struct.Struct("i").pack
UNBOUNDED = 1 << 62  # a timeout this guard did not set: no feed gap before it is counted on


class Watchdog:
    """A watchdog device fed by writes; "V" before close disarms it (magic close).

    A host frozen with its guard (VM pause, cgroup freeze) is stopped only by the device
    running out, so it must run out before anyone may take over, even when the host's
    clock stopped with it and lags afterwards. The guard sets the device timeout T at
    or below the limit cmcld sends (cluster/core/watchdog.py: the lease must hold two T),
    whole seconds as WDIOC_SETTIMEOUT takes them, reads back what the device accepted,
    and while armed feeds only as `FeedRule` allows: on renewals, and without one only
    as long as the feeds since the deadline's anchor still add up to a reset by the
    deadline. A device that keeps a longer timeout cannot do this: the guard says so and
    feeds at its interval (it still resets the host after a stop-now)."""

    def __init__(
        self,
        path: str,
        interval: float,
        timeout: int | None,
        ioctl: Callable[[int, int, bytes], bytes] = fcntl.ioctl,
    ) -> None:
        self.path, self.interval, self._ioctl = path, interval, ioctl
        self.fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self.timeout_set = False
        self.timeout: int | None = None  # seconds, as the device reports it
        self.limit_ns = 0  # from cmcld; 0 until it is known
        self.lease_ns = 0  # MEMBER_TIMEOUT, from cmcld: a deadline's anchor
        self.rule: FeedRule | None = None  # set while the device protects a frozen host
        self.problem = "no limit from cmcld yet"
        if timeout:
            self.timeout_set = self.set_timeout(timeout) is not None
        self.feeding = True
        self.next_feed = 0.0
        self.feeds: deque[int] = deque(maxlen=HISTORY)  # every feed; the rule reads them
        self.pending = False  # a new timeout waits until a feed is allowed

    @property
    def protects(self) -> bool:
        return self.rule is not None

    def set_timeout(self, seconds: int) -> int | None:
        """WDIOC_SETTIMEOUT, then the timeout read back (WDIOC_GETTIMEOUT, or what
        SETTIMEOUT wrote back); None when the device takes no timeout (tests use a
        FIFO) or refuses this one."""
        try:
            accepted = struct.unpack("i", self._ioctl(self.fd, WDIOC_SETTIMEOUT, PACK(seconds)))[0]
        except OSError:
            self.timeout = self.read_timeout()
            return None
        self.timeout = self.read_timeout() or accepted
        return self.timeout

    def read_timeout(self) -> int | None:
        try:
            value: int = struct.unpack("i", self._ioctl(self.fd, WDIOC_GETTIMEOUT, PACK(0)))[0]
        except OSError:
            return None
        return value if value > 0 else None

    def fit(self, limit_ns: int, lease_ns: int, now_ns: int) -> str:
        """Set the device timeout to the whole seconds at or below `limit_ns` and feed by
        the rule for leases of `lease_ns`; one sentence saying whether a frozen host is
        now reset before its lease ends. Setting a timeout restarts the device's count
        (the kernel pings it), so it is a feed: while armed it waits until the rule
        allows one (`pending`), and it is counted as one."""
        self.limit_ns, self.lease_ns = limit_ns, lease_ns
        old = self.rule
        if old is not None and old.deadline is not None and not old.allowed():
            self.pending = True
            return "the new watchdog timeout waits until a feed is allowed (setting it feeds)"
        self.pending = False
        want = limit_ns // 1_000_000_000
        limit = f"{limit_ns / 1e6:.0f} ms"
        deadline = old.deadline if old is not None else None
        self.rule = None
        if want < 1 or lease_ns <= 0:
            self.timeout = self.read_timeout()
            self.problem = (
                f"a watchdog timeout is whole seconds, and the lease allows at most {limit} "
                "(half of MEMBER_TIMEOUT less two heartbeats): a host frozen with its guard "
                "is NOT reset before others take over"
            )
            return self.problem
        got = self.set_timeout(want)
        self.feeds.append(now_ns)
        self.timeout_set = got is not None
        if got is not None and got * 1_000_000_000 <= limit_ns:
            # Gaps that began before now ran under the old timeout, or under none this
            # guard set (the device's own may be a minute): those are not counted on.
            earlier = (*old.earlier[-7:], (now_ns, old.timeout)) if old else ((now_ns, UNBOUNDED),)
            self.rule = FeedRule(
                got * 1_000_000_000, lease_ns, deadline=deadline, feeds=self.feeds, earlier=earlier
            )
            self.problem = ""
            return f"watchdog {self.path} timeout {got} s (the lease allows {limit})"
        if got is None and self.timeout is None:
            self.problem = (
                f"{self.path} takes no timeout (WDIOC_SETTIMEOUT/GETTIMEOUT refused): a "
                "host frozen with its guard is reset only after the device's own timeout"
            )
        else:
            self.problem = (
                f"{self.path} keeps a timeout of {self.timeout or got} s (asked {want} s), "
                f"longer than the {limit} the lease allows: a host frozen with its guard "
                "is NOT reset before others take over"
            )
        return self.problem

    def armed(self, deadline_ns: int | None) -> None:
        """The guard's deadline (None: disarmed), for the rule."""
        if self.rule is not None:
            if deadline_ns is None:
                self.rule.disarmed()
            else:
                self.rule.renewed(deadline_ns)

    def feed(self, now_ns: int) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self.fd, b"k")
        interval = self.interval if self.timeout is None else min(self.interval, self.timeout / 2)
        self.next_feed = now_ns / 1e9 + interval
        self.feeds.append(now_ns)

    def status(self) -> dict[str, Any]:
        return {
            "device": self.path,
            "interval": self.interval,
            "timeout_set": self.timeout_set,
            "timeout": self.timeout,
            "limit_ms": round(self.limit_ns / 1e6, 3),
            "protects_frozen_host": self.protects,
            "problem": self.problem,
            "feeding": self.feeding,
        }

    def close(self, disarm: bool) -> None:
        if disarm:
            with contextlib.suppress(OSError):
                os.write(self.fd, b"V")
        os.close(self.fd)
