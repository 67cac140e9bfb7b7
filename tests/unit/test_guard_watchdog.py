"""The guard's watchdog: a timeout below the lease, read back from the device, and feeds
that stop in time for a frozen host to be reset by its lease deadline.

This machine has no watchdog driver (no softdog module, no /dev/watchdog, no CUSE), so
the device is a FIFO (what the guard writes is read back) and the ioctls go to a fake
with the kernel's semantics: WDIOC_SETTIMEOUT takes whole seconds, refuses (EINVAL)
what the driver cannot do or rounds it, and writes back what it set; WDIOC_GETTIMEOUT
reads it. The real ioctl on the FIFO is tried too: it fails as on any non-watchdog."""

import contextlib
import errno
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.core.timing import MS, SECOND
from cluster.guard import protocol as p
from cluster.guard.main import (
    WDIOC_GETTIMEOUT,
    WDIOC_SETTIMEOUT,
    Guard,
    GuardLog,
    Watchdog,
    stretch,
)
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
    """MEMBER_TIMEOUT 2 s, heartbeat 200 ms, rho 1 %: the lease allows 1.78 s, so the
    device gets 1 s (softdog's granularity) and says so when read back."""
    device = FakeDevice()
    dog = Watchdog(fifo[0], 1.0, None, ioctl=device)
    limit = (2 * SECOND - 200 * MS) * 100 // 101
    assert dog.fit(limit) == f"watchdog {fifo[0]} timeout 1 s (the lease allows 1782 ms)"
    assert dog.protects and dog.timeout == 1 and dog.timeout_set
    assert (WDIOC_SETTIMEOUT, 1) in device.calls and device.calls[-1][0] == WDIOC_GETTIMEOUT
    assert dog.status()["protects_frozen_host"] is True
    # MEMBER_TIMEOUT 14 s: 12 s.
    dog.fit((14 * SECOND - SECOND) * 100 // 101)
    assert dog.timeout == 12 and device.current == 12 and dog.protects


def test_a_lease_shorter_than_a_whole_second_cannot_be_protected(fifo: tuple[str, int]) -> None:
    device = FakeDevice()
    dog = Watchdog(fifo[0], 1.0, None, ioctl=device)
    said = dog.fit((1 * SECOND - 100 * MS) * 100 // 101)  # MEMBER_TIMEOUT 1 s
    assert not dog.protects
    assert "whole seconds" in said and "891 ms" in said and "NOT reset" in said
    assert dog.status()["problem"] == said
    assert not any(request == WDIOC_SETTIMEOUT for request, _ in device.calls)


def test_a_device_that_keeps_a_longer_timeout_is_named(fifo: tuple[str, int]) -> None:
    coarse = FakeDevice(step=4)  # asks 3 s, gets 4 s
    dog = Watchdog(fifo[0], 1.0, None, ioctl=coarse)
    said = dog.fit(3900 * MS)
    assert not dog.protects
    assert said == (
        f"{fifo[0]} keeps a timeout of 4 s (asked 3 s), longer than the 3900 ms the lease "
        "allows: a host frozen with its guard is NOT reset before others take over"
    )
    fixed = FakeDevice(low=60, high=60)  # refuses anything but its own 60 s
    dog = Watchdog(fifo[0], 1.0, None, ioctl=fixed)
    assert "keeps a timeout of 60 s (asked 12 s)" in dog.fit(12900 * MS)
    assert not dog.protects and not dog.timeout_set


def test_the_real_ioctl_on_a_non_watchdog_fails_cleanly(fifo: tuple[str, int]) -> None:
    dog = Watchdog(fifo[0], 1.0, 5)  # fcntl.ioctl itself: ENOTTY on a FIFO
    assert not dog.timeout_set and dog.timeout is None
    said = dog.fit(1782 * MS)
    assert "takes no timeout" in said and not dog.protects
    assert dog.may_feed(0, 1)  # nothing known: feeds as before


def test_may_feed_only_while_a_frozen_host_would_still_be_reset_in_time(
    fifo: tuple[str, int],
) -> None:
    dog = Watchdog(fifo[0], 1.0, None, ioctl=FakeDevice())
    dog.fit(1782 * MS)
    deadline = 10 * SECOND
    assert stretch(SECOND) == 1010 * MS
    assert dog.may_feed(deadline - 1010 * MS, deadline)
    assert not dog.may_feed(deadline - 1009 * MS, deadline)
    assert dog.last_feed_ns(deadline) == deadline - 1010 * MS


def test_armed_guard_stops_feeding_when_the_deadline_comes_near(
    tmp_path: Path, fifo: tuple[str, int]
) -> None:
    """The guard is armed with a deadline 1.5 s ahead and never renewed (cmcld and the
    guard's own renewals gone, as on a frozen host): its last feed is no later than
    deadline - T x 1.01, so the device (T = 1 s) resets the host before the deadline."""
    paths = HostPaths(tmp_path / "root")
    files = p.GuardFiles.from_paths(paths)
    files.fifo.parent.mkdir(parents=True)
    os.mkfifo(files.fifo)
    dog = Watchdog(fifo[0], 0.05, None, ioctl=FakeDevice())
    guard = Guard(
        files,
        node="a",
        margin_ns=200 * MS,
        log=GuardLog(files.log, "a"),
        watchdog=dog,
        priority={},
    )
    thread = threading.Thread(target=guard.run, daemon=True)
    thread.start()
    writer = os.open(files.fifo, os.O_WRONLY)
    feeds: list[int] = []
    try:
        os.write(writer, p.encode(p.WATCHDOG_LIMIT, 1782 * MS))
        deadline = time.monotonic_ns() + 1500 * MS
        os.write(writer, p.encode(p.RENEW, deadline))
        while time.monotonic_ns() < deadline - 100 * MS:
            try:
                got = os.read(fifo[1], 4096)
            except BlockingIOError:
                got = b""
            feeds += [time.monotonic_ns()] * got.count(b"k")
            time.sleep(0.002)
        assert guard.state == p.FIRED  # at deadline - margin
    finally:
        with contextlib.suppress(BrokenPipeError):  # it closed the FIFO when it fired
            os.write(writer, p.encode(p.EXIT))
        os.close(writer)
        guard.exit_requested = True
        thread.join(5)
    assert feeds, "never fed"
    last = dog.fed_at_ns
    assert last <= deadline - 1010 * MS
    assert last >= deadline - 1010 * MS - 30 * MS, "no feed at the last allowed moment"
    assert "timeout 1 s" in files.log.read_text()
