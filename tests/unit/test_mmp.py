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
            block = asyncio.run(mmp.read_block(str(path), ENV))
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


def test_parse_dump_mmp() -> None:
    text = (
        "block_number: 2328\nupdate_interval: 1\ncheck_interval: 5\nsequence: 43b09f6b\n"
        "time: 1796406315 -- Fri Dec  4 17:45:15 2026\nnode_name: n1\n"
    )
    block = mmp.parse_dump_mmp(text)
    assert block == mmp.MmpBlock(0x43B09F6B, 1796406315, 1, "n1")
    assert block.in_use and not block.clean
    assert mmp.parse_dump_mmp("dump_mmp: MMP feature not enabled.\n") is None


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
    assert done is not None and "did not change for 2.1 s" in done, done
    assert 2.1 <= took < 6, took
    block = asyncio.run(mmp.read_block(str(path), ENV))
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


def test_a_block_that_keeps_changing_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = image(tmp_path, "mmp")
    # A live holder writes a new sequence every 0.5 s: 4 or 5 writes per 2.1 s watch,
    # never a whole turn of 7 distinct blocks.
    blocks = in_use_blocks(path, 7)

    async def live_holder() -> None:
        for n in range(1, 100):
            await asyncio.sleep(0.5)
            put_block(path, blocks[n % len(blocks)])

    async def both() -> None:
        writer = asyncio.create_task(live_holder())
        try:
            with pytest.raises(mmp.HeldElsewhere, match="updated in each of 3 watches"):
                await mmp.take_over(str(path), ENV, margin=0.1)
        finally:
            writer.cancel()

    asyncio.run(both())
    block = asyncio.run(mmp.read_block(str(path), ENV))
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
    block = asyncio.run(mmp.read_block(str(path), ENV))
    assert block is not None and block.clean
