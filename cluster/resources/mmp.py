"""ext4 multi-mount protection (MMP) at takeover.

A host that crashed with the filesystem mounted leaves its MMP block "in use"; the
kernel then makes the next mount wait twice its check interval (at least 2 x 5 s + 1 s,
about 22 s measured here with an update interval of 1 s) before trusting that nobody
updates the block any more. cmcld mounts at takeover only, after the cluster has made
sure the previous owner's lease ended (it stopped its packages, or it is dead), so
MMP is the second line of defence, and cmcld does the kernel's check itself in a
shorter, bounded time: it watches the block for two of the holder's update intervals
plus half a second; a live holder writes it every interval, so a block that did not
change has no live holder, and cmcld resets it (tune2fs -f -E clear_mmp) and mounts at
once. A block that changed is watched again (a holder may have written its last update
just then); one that changes in three watches in a row means a live host still has the
filesystem mounted: the start fails and MMP's protection stays intact.

The block is read with debugfs's dump_mmp, which reads it with O_DIRECT (no cached
copy of another host's write can hide it).
"""

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from cluster.resources import command

SEQ_CLEAN = 0xFF4D4D50  # EXT4_MMP_SEQ_CLEAN: unmounted cleanly
SEQ_FSCK = 0xE24D4D50  # EXT4_MMP_SEQ_FSCK: e2fsck has it
SEQ_MAX = 0xE24D4D4F  # EXT4_MMP_SEQ_MAX: sequences of a live holder are at most this
READ_TIMEOUT = 10.0
MARGIN = 0.5  # seconds beyond two update intervals
WINDOWS = 3  # watches in a row that must each see a change to call the holder live


@dataclass(frozen=True)
class MmpBlock:
    sequence: int
    time: int  # the holder's clock, seconds
    update_interval: int  # seconds
    node_name: str

    @property
    def clean(self) -> bool:
        return self.sequence == SEQ_CLEAN

    @property
    def in_use(self) -> bool:
        return self.sequence <= SEQ_MAX


def parse_dump_mmp(text: str) -> MmpBlock | None:
    """The MMP block from `debugfs -R dump_mmp` output; None when there is none."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        return MmpBlock(
            sequence=int(fields["sequence"], 16),
            time=int(fields.get("time", "0").split()[0]),
            update_interval=int(fields.get("update_interval", "5")),
            node_name=fields.get("node_name", "?"),
        )
    except (KeyError, ValueError, IndexError):
        return None


async def read_block(device: str, env: Mapping[str, str]) -> MmpBlock | None:
    """The device's MMP block; None without MMP or when debugfs cannot read it (the
    mount that follows then meets the kernel's own check)."""
    done = await command.run(["debugfs", "-R", "dump_mmp", device], env=env, timeout=READ_TIMEOUT)
    if done.status != 0:
        return None
    return parse_dump_mmp(done.output)


class HeldElsewhere(RuntimeError):
    """A live host updates the MMP block: the filesystem is mounted there."""


async def take_over(
    device: str, env: Mapping[str, str], margin: float = MARGIN, windows: int = WINDOWS
) -> str | None:
    """Make a stale in-use MMP block clean so the mount need not wait. Returns what was
    done (None: nothing needed); raises HeldElsewhere when the block changed in each of
    `windows` watches in a row (a live holder writes it every interval; one change and
    then a quiet window is a holder that has stopped), RuntimeError when it cannot be
    reset."""
    first = await read_block(device, env)
    if first is None or not first.in_use:
        return None  # clean, e2fsck's, or no MMP: the mount decides
    watch = 2 * max(first.update_interval, 1) + margin
    began = time.monotonic()
    for _ in range(windows):
        await asyncio.sleep(watch)
        second = await read_block(device, env)
        if second is None or not second.in_use:
            return None
        if (second.sequence, second.time, second.node_name) == (
            first.sequence,
            first.time,
            first.node_name,
        ):
            break
        first = second
    else:
        raise HeldElsewhere(
            f"{device} is mounted on {first.node_name}: its MMP block was updated in each "
            f"of {windows} watches of {watch:.1f} s ({time.monotonic() - began:.1f} s)"
        )
    done = await command.run(
        ["tune2fs", "-f", "-E", "clear_mmp", device], env=env, timeout=READ_TIMEOUT
    )
    if done.status != 0:
        raise RuntimeError(f"could not reset the MMP block of {device}: {done.brief()}")
    return (
        f"MMP block of {device} left in use by {first.node_name} did not change for "
        f"{watch:.1f} s: no live holder; reset to clean"
    )
