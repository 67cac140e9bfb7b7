"""The guard's watchdog: a timeout the lease allows, read back from the device, and feeds
by the rule that resets a frozen host by its lease deadline (cluster/core/watchdog.py).

This machine has no watchdog driver (no softdog module, no /dev/watchdog, no CUSE), so
the device is a FIFO (what the guard writes is read back) and the ioctls go to a fake
with the kernel's semantics: WDIOC_SETTIMEOUT takes whole seconds, refuses (EINVAL)
what the driver cannot do or rounds it, and writes back what it set; WDIOC_GETTIMEOUT
reads it. The real ioctl on the FIFO is tried too: it fails as on any non-watchdog."""

import contextlib
import errno
import itertools
import os
import select
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.core.timing import MS, SECOND
from cluster.core.watchdog import feed_limit, stretch
from cluster.daemon.leaseguard import watchdog_warnings
from cluster.guard import protocol as p
from cluster.guard.main import Guard, GuardLog
from cluster.guard.watchdog import WDIOC_GETTIMEOUT, WDIOC_SETTIMEOUT, Watchdog
from cluster.paths import HostPaths


class FakeDevice:
    """The ioctls of a watchdog driver whose timeout ranges over [low, high] seconds
    and is set in steps of `step` seconds (rounded up, as some drivers do)."""

    def __init__(self, low: int = 1, high: int = 65535, step: int = 1, current: int = 60):
        self.low, self.high, self.step, self.current = low, high, step, current
        self.calls: list[tuple[int, int]] = []

    def __call__(self, fd: int, request: int, arg: bytes) -> bytes:
        (value,) = struct.unpack("i", arg)
        self.calls.append((request, value))
        if request == WDIOC_SETTIMEOUT:
            if not self.low <= value <= self.high:
                raise OSError(errno.EINVAL, "Invalid argument")
            self.current = -(-value // self.step) * self.step
            return struct.pack("i", self.current)
        if request == WDIOC_GETTIMEOUT:
            return struct.pack("i", self.current)
        raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[str, int]]:
    path = tmp_path / "watchdog"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        yield str(path), reader
    finally:
        os.close(reader)


def test_softdog_like_device_is_set_below_the_lease(fifo: tuple[str, int]) -> None:
    """MEMBER_TIMEOUT 3 s, heartbeat 300 ms: the lease holds two T of at most 1.18 s, so
    the device gets 1 s (softdog's granularity) and says so when read back."""
    device = FakeDevice()
    dog = Watchdog(fifo[0], 1.0, None, ioctl=device)
    limit = feed_limit(3 * SECOND, 300 * MS)
    assert (
        dog.fit(limit, 3 * SECOND, 0)
        == f"watchdog {fifo[0]} timeout 1 s (the lease allows 1176 ms)"
    )
    assert dog.protects and dog.timeout == 1 and dog.timeout_set
    assert dog.rule is not None and dog.rule.lease == 3 * SECOND
    assert (WDIOC_SETTIMEOUT, 1) in device.calls and device.calls[-1][0] == WDIOC_GETTIMEOUT
    assert dog.status()["protects_frozen_host"] is True
    # MEMBER_TIMEOUT 14 s: 5 s.
    dog.fit(feed_limit(14 * SECOND, SECOND), 14 * SECOND, 0)
    assert dog.timeout == 5 and device.current == 5 and dog.protects


def test_a_lease_shorter_than_two_whole_seconds_cannot_be_protected(
    fifo: tuple[str, int],
) -> None:
    device = FakeDevice()
    dog = Watchdog(fifo[0], 1.0, None, ioctl=device)
    said = dog.fit(feed_limit(SECOND, 100 * MS), SECOND, 0)  # MEMBER_TIMEOUT 1 s
    assert not dog.protects
    assert "whole seconds" in said and "392 ms" in said and "NOT reset" in said
    assert dog.status()["problem"] == said
    assert not any(request == WDIOC_SETTIMEOUT for request, _ in device.calls)


def test_a_device_that_keeps_a_longer_timeout_is_named(fifo: tuple[str, int]) -> None:
    coarse = FakeDevice(step=4)  # asks 3 s, gets 4 s
    dog = Watchdog(fifo[0], 1.0, None, ioctl=coarse)
    said = dog.fit(3900 * MS, 10 * SECOND, 0)
    assert not dog.protects
    assert said == (
        f"{fifo[0]} keeps a timeout of 4 s (asked 3 s), longer than the 3900 ms the lease "
        "allows: a host frozen with its guard is NOT reset before others take over"
    )
    fixed = FakeDevice(low=60, high=60)  # refuses anything but its own 60 s
    dog = Watchdog(fifo[0], 1.0, None, ioctl=fixed)
    assert "keeps a timeout of 60 s (asked 12 s)" in dog.fit(12900 * MS, 30 * SECOND, 0)
    assert not dog.protects and not dog.timeout_set


def test_the_real_ioctl_on_a_non_watchdog_fails_cleanly(fifo: tuple[str, int]) -> None:
    dog = Watchdog(fifo[0], 1.0, 5)  # fcntl.ioctl itself: ENOTTY on a FIFO
    assert not dog.timeout_set and dog.timeout is None
    said = dog.fit(1782 * MS, 5 * SECOND, 0)
    assert "takes no timeout" in said and not dog.protects
    assert dog.rule is None  # nothing known: feeds at its interval, as before


def test_armed_guard_spends_the_lease_on_feeds_then_lets_the_device_reset(
    tmp_path: Path, fifo: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Armed with a deadline 5.9 s ahead on a 6 s lease and never renewed (a host cut
    off, or frozen and thawed: it cannot tell): the guard feeds about every T - lead
    while the feeds since the deadline's anchor still add up to a reset by the
    deadline, then stops, so the device (T = 1 s) resets the host by the deadline; its
    own stop-now at deadline - margin comes first."""
    paths = HostPaths(tmp_path / "root")
    files = p.GuardFiles.from_paths(paths)
    files.fifo.parent.mkdir(parents=True)
    os.mkfifo(files.fifo)
    dog = Watchdog(fifo[0], 1.0, None, ioctl=FakeDevice())
    guard = Guard(
        files,
        node="a",
        margin_ns=200 * MS,
        log=GuardLog(files.log, "a"),
        watchdog=dog,
        priority={},
    )
    wake_ups = []
    real_select = select.select

    def counted(*args: Any) -> Any:
        wake_ups.append(time.monotonic_ns())
        return real_select(*args)

    monkeypatch.setattr(select, "select", counted)
    thread = threading.Thread(target=guard.run, daemon=True)
    thread.start()
    writer = os.open(files.fifo, os.O_WRONLY)
    lease = 6 * SECOND
    try:
        os.write(writer, p.encode(p.LEASE, lease))
        os.write(writer, p.encode(p.WATCHDOG_LIMIT, SECOND))
        time.sleep(0.7)  # idle: fed every T/2
        deadline = time.monotonic_ns() + 5900 * MS
        os.write(writer, p.encode(p.RENEW, deadline))
        while time.monotonic_ns() < deadline - 100 * MS:
            with contextlib.suppress(BlockingIOError):
                os.read(fifo[1], 4096)
            time.sleep(0.01)
        assert guard.state == p.FIRED  # at deadline - margin
    finally:
        with contextlib.suppress(BrokenPipeError):  # it closed the FIFO when it fired
            os.write(writer, p.encode(p.EXIT))
        os.close(writer)
        guard.exit_requested = True
        thread.join(5)
    assert dog.rule is not None and dog.timeout == 1
    feeds = list(dog.rule.feeds)
    anchor = deadline - lease
    base = max(f for f in feeds if f <= anchor)
    after = [f for f in feeds if f > base]
    t = stretch(SECOND)
    assert base + (len(after) + 1) * t <= deadline, "a frozen host would outlive its lease"
    assert base + (len(after) + 2) * t > deadline, "stopped feeding while it still could"
    armed = [f for f in after if f > anchor + 300 * MS]
    assert armed and all(b - a >= 850 * MS for a, b in itertools.pairwise(armed))
    # Each feed without a renewal costs T x 1.02 of the lease but comes T - lead after
    # the one before: the host lives until its deadline less a T and that much per feed.
    lived = after[-1] + t
    assert lived >= deadline - t - len(after) * (120 * MS) - 50 * MS, "reset long before"
    # Once feeds are refused, nothing but the deadline wakes the guard: it must not spin
    # (it runs at SCHED_FIFO priority).
    refused = [w for w in wake_ups if after[-1] + 10 * MS < w < deadline - 200 * MS]
    assert len(refused) < 20, f"{len(refused)} wake-ups while feeds were refused"
    assert "timeout 1 s" in files.log.read_text()


def test_a_fresh_renewal_is_fed_once_half_the_device_time_is_gone(
    fifo: tuple[str, int],
) -> None:
    """A renewal anchored after the last feed is fed on arrival once T/2 has gone by
    (sooner, a feed would spend a T of the lease for little); one anchored before that
    feed (the heartbeats it rests on were sent before it) waits until the device would
    run out, as a feed without a renewal does."""
    dog = Watchdog(fifo[0], 1.0, None, ioctl=FakeDevice())
    dog.fit(SECOND, 4 * SECOND, 0)
    rule = dog.rule
    assert rule is not None
    dog.feed(10 * SECOND)
    dog.armed(10 * SECOND + 100 * MS + 4 * SECOND)  # anchored 100 ms after the feed
    assert not rule.should_feed(10 * SECOND + 450 * MS)
    assert rule.should_feed(10 * SECOND + 500 * MS)
    dog.feed(10 * SECOND + 500 * MS)
    dog.armed(10 * SECOND + 420 * MS + 4 * SECOND)  # anchored before that feed
    assert not rule.should_feed(10 * SECOND + 1100 * MS)
    assert rule.should_feed(10 * SECOND + 500 * MS + 900 * MS)  # due: T - lead


def test_cmviewcl_warns_of_a_watchdog_that_does_not_protect(
    tmp_path: Path, fifo: tuple[str, int]
) -> None:
    """The guard's status file says whether its device protects a frozen host; cmcld
    turns a 'no' into a cmviewcl -v warning, and says nothing once it does."""
    paths = HostPaths(tmp_path / "root")
    files = p.GuardFiles.from_paths(paths)
    files.fifo.parent.mkdir(parents=True)
    files.plan.parent.mkdir(parents=True)
    os.mkfifo(files.fifo)
    dog = Watchdog(fifo[0], 1.0, None, ioctl=FakeDevice())
    guard = Guard(
        files, node="a", margin_ns=200 * MS, log=GuardLog(files.log, "a"), watchdog=dog, priority={}
    )
    assert watchdog_warnings(paths, "a") == []  # no status yet: nothing known
    guard.apply(p.LEASE, SECOND)
    guard.apply(p.WATCHDOG_LIMIT, feed_limit(SECOND, 100 * MS))
    (warning,) = watchdog_warnings(paths, "a")
    assert warning.startswith(f"a: watchdog {fifo[0]} would not reset this host frozen in time: ")
    assert "392 ms" in warning
    guard.apply(p.LEASE, 3 * SECOND)
    guard.apply(p.WATCHDOG_LIMIT, feed_limit(3 * SECOND, 300 * MS))
    assert watchdog_warnings(paths, "a") == []
    os.close(guard.fd)


def test_a_new_timeout_while_armed_keeps_the_history_and_counts_as_a_feed(
    fifo: tuple[str, int],
) -> None:
    """cmapplyconf changes the timeout while the lease is held: setting it restarts the
    device's count (the kernel pings it), so it is recorded as a feed; the feeds before
    are kept (the rule needs the one before the anchor), and a window that began under
    the longer old timeout is counted with it. While feeds are refused, the new timeout
    waits."""
    dog = Watchdog(fifo[0], 1.0, None, ioctl=FakeDevice())
    dog.fit(2 * SECOND, 10 * SECOND, 0)
    rule = dog.rule
    assert rule is not None
    for t in (SECOND, 2 * SECOND, 3 * SECOND):
        dog.feed(t)
    dog.armed(2500 * MS + 10 * SECOND)  # anchored after the feed at 2 s
    dog.fit(SECOND, 10 * SECOND, 3100 * MS)  # 2 s -> 1 s
    new = dog.rule
    assert new is not None and new is not rule and new.timeout == SECOND
    assert list(new.feeds) == [0, SECOND, 2 * SECOND, 3 * SECOND, 3100 * MS]
    assert new.deadline == 2500 * MS + 10 * SECOND
    # base 2 s (before the change): counted with the old 2 s; 2 feeds since, a third:
    # 2 + 4 x 2.04 = 10.16 s <= 12.5 s
    assert new.allowed()
    dog.armed(2 * SECOND + 100 * MS + 6 * SECOND)  # a deadline the old timeout cannot meet
    assert not new.allowed()
    said = dog.fit(3 * SECOND, 10 * SECOND, 3200 * MS)
    assert dog.pending and "waits" in said and dog.rule is new
    assert list(new.feeds)[-1] == 3100 * MS  # no feed: the device was not touched
