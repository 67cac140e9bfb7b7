"""MMP takeover on real ext4 images (no root: e2fsprogs work on image files).

A writable debugfs takes the MMP block as a mounting host does; SIGKILLed, it leaves
the block in use, as a crashed host does.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cluster.resources import mmp

pytestmark = pytest.mark.skipif(shutil.which("debugfs") is None, reason="needs e2fsprogs")

ENV = dict(os.environ)


def image(tmp: Path, *features: str) -> Path:
    path = tmp / "disk.img"
    with path.open("wb") as f:
        f.truncate(16 << 20)
    options = ["-O", ",".join(features), "-E", "mmp_update_interval=1"] if features else []
    subprocess.run(["mkfs.ext4", "-q", "-F", *options, str(path)], check=True)
    return path


def mmp_offset(path: Path) -> int:
    done = subprocess.run(["dumpe2fs", "-h", str(path)], capture_output=True, text=True, check=True)
    lines = (x.partition(":") for x in done.stdout.splitlines())
    fields = {k.strip(): v.strip() for k, _, v in lines}
    return int(fields["MMP block number"]) * int(fields["Block size"])


def crash_holder(path: Path) -> bytes:
    """Take the block with a writable debugfs, SIGKILL it (by PID): the block stays in
    use. Returns the block's bytes."""
    holder = subprocess.Popen(
        ["debugfs", "-w", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            block = asyncio.run(mmp.read_block(str(path)))
            if block is not None and block.in_use:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("debugfs -w never took the MMP block")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    with path.open("rb") as f:
        f.seek(mmp_offset(path))
        return f.read(1024)


def put_block(path: Path, block: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(mmp_offset(path))
        f.write(block)


def dump_mmp(path: Path) -> dict[str, str]:
    """debugfs's own reading of the MMP block: the reference for ours."""
    done = subprocess.run(
        ["debugfs", "-R", "dump_mmp", str(path)], capture_output=True, text=True, check=True
    )
    lines = (x.partition(":") for x in done.stdout.splitlines())
    return {k.strip(): v.strip() for k, sep, v in lines if sep}


def test_our_reading_of_the_block_matches_debugfs(tmp_path: Path) -> None:
    path = image(tmp_path, "mmp")
    clean = mmp.read_block_now(str(path))
    assert clean is not None and clean.clean and not clean.in_use
    assert clean.sequence == int(dump_mmp(path)["sequence"], 16)
    crash_holder(path)
    block = mmp.read_block_now(str(path))
    fields = dump_mmp(path)
    assert block is not None and block.in_use
    assert block.sequence == int(fields["sequence"], 16)
    assert block.time == int(fields["time"].split()[0])
    assert block.node_name == fields["node_name"]
    assert block.update_interval == int(fields["update_interval"]) == 1
    assert mmp.read_block_now(str(image(tmp_path))) is None  # rebuilt without MMP
    junk = tmp_path / "junk"
    junk.write_bytes(b"\xff" * 8192)
    assert mmp.read_block_now(str(junk)) is None


def test_clean_block_and_no_mmp_need_nothing(tmp_path: Path) -> None:
    clean = image(tmp_path, "mmp")
    assert asyncio.run(mmp.take_over(str(clean), ENV)) is None
    plain = image(tmp_path)  # rebuilt without MMP
    assert asyncio.run(mmp.take_over(str(plain), ENV)) is None


def test_block_left_by_a_crashed_holder_is_reset_after_the_watch(tmp_path: Path) -> None:
    path = image(tmp_path, "mmp")
    crash_holder(path)
    began = time.monotonic()
    done = asyncio.run(mmp.take_over(str(path), ENV, margin=0.1))
    took = time.monotonic() - began
    assert done is not None and "quiet window 2.1 s" in done, done
    assert 2.1 <= took < 6, took
    block = asyncio.run(mmp.read_block(str(path)))
    assert block is not None and block.clean


def in_use_blocks(path: Path, count: int = 2) -> list[bytes]:
    """Distinct valid in-use blocks of this filesystem (holders that crashed); the
    image is left with the first."""
    blocks: list[bytes] = []
    for _ in range(count):
        subprocess.run(
            ["tune2fs", "-f", "-E", "clear_mmp", str(path)], check=True, capture_output=True
        )
        blocks.append(crash_holder(path))
    assert len(set(blocks)) == count
    put_block(path, blocks[0])
    return blocks


@pytest.mark.parametrize("watched", [False, True], ids=["unwatched", "watched"])
def test_a_block_that_keeps_changing_is_refused_and_left_alone(
    tmp_path: Path, watched: bool
) -> None:
    """A live holder writes a new sequence every 0.5 s: several writes per watch, never a
    whole turn of 7 distinct blocks. Refused whether or not cmcld sampled it before
    (a sampled holder's short gaps make the window one interval + margin, still
    longer than its gaps)."""
    path = image(tmp_path, "mmp")
    blocks = in_use_blocks(path, 7)
    history = mmp.History()

    async def live_holder() -> None:
        for n in range(1, 100):
            await asyncio.sleep(0.5)
            put_block(path, blocks[n % len(blocks)])

    async def both() -> None:
        writer = asyncio.create_task(live_holder())
        try:
            for _ in range(12 if watched else 0):
                history.record(str(path), await mmp.read_block(str(path)))
                await asyncio.sleep(0.25)
            with pytest.raises(mmp.HeldElsewhere, match="updated in each of 3 watches"):
                await mmp.take_over(str(path), ENV, history, margin=0.1)
        finally:
            writer.cancel()

    asyncio.run(both())
    block = asyncio.run(mmp.read_block(str(path)))
    assert block is not None and block.in_use  # the protection is intact


def test_a_block_written_once_then_quiet_is_reset(tmp_path: Path) -> None:
    """A holder's last update may land while we watch: one more quiet watch decides."""
    path = image(tmp_path, "mmp")
    _, last = in_use_blocks(path)

    async def last_update() -> None:
        await asyncio.sleep(0.5)
        put_block(path, last)

    async def both() -> str | None:
        writer = asyncio.create_task(last_update())
        try:
            return await mmp.take_over(str(path), ENV, margin=0.1)
        finally:
            await writer

    began = time.monotonic()
    done = asyncio.run(both())
    assert done is not None and "reset to clean" in done
    assert 4.2 <= time.monotonic() - began < 10  # two watches of 2.1 s
    block = asyncio.run(mmp.read_block(str(path)))
    assert block is not None and block.clean


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def block(seq: int, interval: int = 1) -> mmp.MmpBlock:
    return mmp.MmpBlock(seq, 1_800_000_000 + seq, interval, "n1")


def test_history_learns_the_holders_gaps_only_from_continuous_samples() -> None:
    clock = Clock()
    history = mmp.History(clock)
    dev = "/dev/x"
    history.record(dev, block(1))  # first sight: when it was written is unknown
    assert history.window(dev, block(1), margin=0.5) == 2.5  # nothing known: 2 x 1 s + 0.5
    for seq in (2, 3, 4):  # a holder writing every 1.2 s, sampled every 0.25 s
        for _ in range(4):
            clock.now += 0.25
            history.record(dev, block(seq - 1))
        clock.now += 0.2
        history.record(dev, block(seq))
    # gaps: 1->2 unknown (1 was not anchored), 2->3 and 3->4 measured as 1.2 s
    assert history.window(dev, block(4), margin=0.5) == pytest.approx(1.7)
    clock.now += 0.9
    history.record(dev, block(4))
    assert history.quiet(dev, block(4)) == pytest.approx(0.9)
    assert history.quiet(dev, block(5)) == 0.0
    clock.now += 5  # samples stopped for a while: the change is not anchored
    history.record(dev, block(5))
    clock.now += 1.1
    history.record(dev, block(6))
    assert history.window(dev, block(6), margin=0.5) == pytest.approx(1.7)  # no new gap
    clock.now += 3.0  # unchanged across a long pause still counts as quiet
    history.record(dev, block(6))
    assert history.quiet(dev, block(6)) == pytest.approx(3.0)
    history.record(dev, mmp.MmpBlock(mmp.SEQ_CLEAN, 0, 1, "n1"))  # unmounted cleanly
    assert history.quiet(dev, block(6)) == 0.0
    history.record(dev, block(7))
    history.forget(set())
    assert history.window(dev, block(7), margin=0.5) == 2.5


def test_a_watched_holder_that_crashed_is_taken_over_within_its_own_gap(tmp_path: Path) -> None:
    """Samples taken while the holder lived (writing every second) size the window:
    about one gap plus the margin instead of two intervals, and most of it had passed."""
    path = image(tmp_path, "mmp")
    blocks = in_use_blocks(path, 4)
    history = mmp.History()

    async def scenario() -> tuple[str | None, float]:
        for n in range(1, 16):  # the holder lives 3.75 s: writes at 1, 2, 3 s
            if n % 4 == 0:
                put_block(path, blocks[n // 4])
            history.record(str(path), await mmp.read_block(str(path)))
            await asyncio.sleep(0.25)
        began = time.monotonic()
        done = await mmp.take_over(str(path), ENV, history, margin=0.3)
        return done, time.monotonic() - began

    done, took = asyncio.run(scenario())
    assert done is not None and "reset to clean" in done, done
    window = float(done.split("quiet window ")[1].split()[0])
    assert 1.0 <= window <= 1.9, done
    assert took < 1.5, (took, done)
    block_now = asyncio.run(mmp.read_block(str(path)))
    assert block_now is not None and block_now.clean
