"""ext4 multi-mount protection (MMP) at takeover.

A host that crashed with the filesystem mounted leaves its MMP block "in use"; the
kernel then makes the next mount wait twice its check interval (at least 2 x 5 s + 1 s,
about 22 s measured here with an update interval of 1 s) before trusting that nobody
updates the block any more. cmcld mounts at takeover only, after the cluster has made
sure the previous owner's lease ended (it stopped its packages, or it is dead), so
MMP is the second line of defence, and cmcld does the kernel's check itself in a
shorter, bounded time: a live holder writes the block every update interval, so a
block that did not change for a whole quiet window has no live holder, and cmcld
resets it (tune2fs -f -E clear_mmp) and mounts at once.

The quiet window is two update intervals plus half a second when nothing is known of
the holder. While a package runs elsewhere, cmcld on each adoptive node samples the
block (`History`), so at takeover it already knows how long the block has been quiet
and how far apart the holder's writes really came: the window is then the longest gap
seen between two writes (at least one interval) plus half a second, and most of it
has usually passed by the time the cluster lets the package move. A block that
changed is watched again (a holder may have written its last update just then); one
that changes in three watches in a row means a live host still has the filesystem
mounted: the start fails and MMP's protection stays intact.

Blocks are read with O_DIRECT (no cached copy of another host's write can hide it),
by cmcld itself: no process is started for a sample.
"""

import asyncio
import errno
import mmap
import os
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cluster.resources import command

SEQ_CLEAN = 0xFF4D4D50  # EXT4_MMP_SEQ_CLEAN: unmounted cleanly
SEQ_FSCK = 0xE24D4D50  # EXT4_MMP_SEQ_FSCK: e2fsck has it
SEQ_MAX = 0xE24D4D4F  # EXT4_MMP_SEQ_MAX: sequences of a live holder are at most this
MMP_MAGIC = 0x004D4D50
EXT4_MAGIC = 0xEF53
INCOMPAT_MMP = 0x0100
SUPERBLOCK_OFFSET = 1024
READ_SIZE = 4096  # one aligned page holds the superblock, or the MMP block
READ_TIMEOUT = 10.0
MARGIN = 0.5  # seconds beyond the quiet window's intervals
WINDOWS = 3  # watches in a row that must each see a change to call the holder live
GAPS_KEPT = 32  # the holder's latest write gaps that size the window
MAX_SAMPLE_PERIOD = 1.0  # seconds; a quarter of the update interval when shorter


@dataclass(frozen=True)
class MmpBlock:
    sequence: int
    time: int  # the holder's clock, seconds
    update_interval: int  # seconds (from the superblock)
    node_name: str

    @property
    def clean(self) -> bool:
        return self.sequence == SEQ_CLEAN

    @property
    def in_use(self) -> bool:
        return self.sequence <= SEQ_MAX

    @property
    def stamp(self) -> tuple[int, int, str]:
        """What a holder's write changes."""
        return (self.sequence, self.time, self.node_name)


def _read_page(device: str, offset: int) -> bytes:
    """READ_SIZE bytes at `offset`, bypassing the page cache where the file allows it
    (block devices do; tmpfs files do not, and need no bypass: one host's cache)."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        buffer = mmap.mmap(-1, READ_SIZE)  # page-aligned, as O_DIRECT requires
        try:
            try:
                got = os.preadv(fd, [buffer], offset)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                got = len(data := os.pread(fd, READ_SIZE, offset))
                buffer[:got] = data
            return bytes(buffer[:got])
        finally:
            buffer.close()
    finally:
        os.close(fd)


def read_block_now(device: str) -> MmpBlock | None:
    """The device's MMP block; None when it is no ext2/3/4 filesystem with MMP.
    Blocking (run it in a thread); OSError when the device cannot be read."""
    page = _read_page(device, 0)
    sb = page[SUPERBLOCK_OFFSET : SUPERBLOCK_OFFSET + 1024]
    if len(sb) < 1024 or struct.unpack_from("<H", sb, 0x38)[0] != EXT4_MAGIC:
        return None
    (log_block_size,) = struct.unpack_from("<I", sb, 0x18)
    (incompat,) = struct.unpack_from("<I", sb, 0x60)
    interval, block_number = struct.unpack_from("<HQ", sb, 0x166)
    if not incompat & INCOMPAT_MMP or block_number == 0 or log_block_size > 6:
        return None
    raw = _read_page(device, block_number * (1024 << log_block_size))
    if len(raw) < 116:
        return None
    magic, sequence, stamp = struct.unpack_from("<IIQ", raw, 0)
    if magic != MMP_MAGIC:
        return None
    name = raw[16:80].split(b"\0", 1)[0].decode("utf-8", "replace") or "?"
    return MmpBlock(sequence, stamp, interval or 5, name)


async def read_block(device: str) -> MmpBlock | None:
    """`read_block_now` off the event loop; None also when it cannot be read (the
    mount that follows then meets the kernel's own check)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(read_block_now, device), READ_TIMEOUT)
    except (OSError, TimeoutError):
        return None


@dataclass
class Sighting:
    """One device's block as samples saw it."""

    stamp: tuple[int, int, str]
    since: float  # monotonic seconds: the first sample that showed `stamp`
    last: float  # the latest sample
    gaps: tuple[float, ...] = ()  # seconds between the holder's writes, as seen
    anchored: bool = False  # `since` is within a sample period of the write itself


class History:
    """MMP blocks of filesystems that another host holds, sampled by cmcld on the
    nodes that may take them over; `take_over` starts from what was seen."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: dict[str, Sighting] = {}

    def record(self, device: str, block: MmpBlock | None) -> None:
        now = self.clock()
        if block is None or not block.in_use:
            self._seen.pop(device, None)
            return
        seen = self._seen.get(device)
        if seen is None:
            self._seen[device] = Sighting(block.stamp, now, now)
        elif seen.stamp == block.stamp:
            seen.last = now  # unchanged from `since` to now, however far apart the samples
        else:
            # The write came after the previous sample: a gap between two writes is
            # known only when both were seen within a sample period of happening.
            continuous = now - seen.last <= 2 * sample_period(block)
            gaps = seen.gaps
            if continuous and seen.anchored:
                gaps = (*gaps, now - seen.since)[-GAPS_KEPT:]
            self._seen[device] = Sighting(block.stamp, now, now, gaps, continuous)

    def quiet(self, device: str, block: MmpBlock) -> float:
        """Seconds the block has surely shown just this stamp (0: not known)."""
        seen = self._seen.get(device)
        if seen is None or seen.stamp != block.stamp:
            return 0.0
        return self.clock() - seen.since

    def window(self, device: str, block: MmpBlock, margin: float = MARGIN) -> float:
        """How long the block must stay unchanged to have no live holder: the longest
        write gap seen (at least one interval), or two intervals with fewer than two
        gaps seen, plus `margin`."""
        interval = float(max(block.update_interval, 1))
        seen = self._seen.get(device)
        gaps = seen.gaps if seen is not None else ()
        if len(gaps) < 2:
            return 2 * interval + margin
        return max(interval, *gaps) + margin

    def forget(self, keep: set[str]) -> None:
        for device in set(self._seen) - keep:
            del self._seen[device]


def sample_period(block: MmpBlock) -> float:
    """How often to sample a holder that writes every `update_interval` seconds."""
    return min(max(block.update_interval, 1) / 4, MAX_SAMPLE_PERIOD)


class HeldElsewhere(RuntimeError):
    """A live host updates the MMP block: the filesystem is mounted there."""


async def take_over(
    device: str,
    env: Mapping[str, str],
    history: History | None = None,
    margin: float = MARGIN,
    windows: int = WINDOWS,
) -> str | None:
    """Make a stale in-use MMP block clean so the mount need not wait. Returns what was
    done (None: nothing needed); raises HeldElsewhere when the block changed in each of
    `windows` watches in a row (a live holder writes it every interval; one change and
    then a quiet window is a holder that has stopped), RuntimeError when it cannot be
    reset."""
    history = history if history is not None else History()
    block = await read_block(device)
    history.record(device, block)
    if block is None or not block.in_use:
        return None  # clean, e2fsck's, or no MMP: the mount decides
    began = time.monotonic()
    changes = 0
    while True:
        window = history.window(device, block, margin)
        quiet = history.quiet(device, block)
        if quiet >= window:
            break
        await asyncio.sleep(window - quiet)
        latest = await read_block(device)
        history.record(device, latest)
        if latest is None or not latest.in_use:
            return None
        if latest.stamp != block.stamp:
            changes += 1
            if changes >= windows:
                raise HeldElsewhere(
                    f"{device} is mounted on {latest.node_name}: its MMP block was updated "
                    f"in each of {windows} watches ({time.monotonic() - began:.1f} s)"
                )
        block = latest
    done = await command.run(
        ["tune2fs", "-f", "-E", "clear_mmp", device], env=env, timeout=READ_TIMEOUT
    )
    if done.status != 0:
        raise RuntimeError(f"could not reset the MMP block of {device}: {done.brief()}")
    return (
        f"MMP block of {device} left in use by {block.node_name} did not change for "
        f"{history.quiet(device, block):.1f} s (quiet window {window:.1f} s, "
        f"{time.monotonic() - began:.1f} s of it waited at takeover): no live holder; "
        "reset to clean"
    )
