"""Thousands of seeds of mixed faults over 2 to 16 nodes (with and without a quorum
server) and a few at 32 to 64 nodes. SIM_SEEDS overrides the count (default 2000)."""

import os

import pytest

from tests.sim.run import replay_command, run_seeds

SEEDS = int(os.environ.get("SIM_SEEDS", "2000"))
CHUNK = 250
BIG_SEEDS = (1, 2, 3)


@pytest.mark.parametrize("start", range(0, SEEDS, CHUNK))
def test_mixed_faults(start: int) -> None:
    seeds = range(start, min(start + CHUNK, SEEDS))
    print(f"seeds {seeds.start}..{seeds.stop - 1}")
    results = run_seeds(seeds, workers=2)
    failed = [r for r in results if not r.ok]
    assert not failed, "\n".join(f"{replay_command(r)}\n  {r.violations[0]}" for r in failed)
    assert len(results) == len(seeds)


def test_big_clusters() -> None:
    print(f"big seeds {BIG_SEEDS}")
    results = run_seeds(BIG_SEEDS, big=True, workers=2)
    failed = [r for r in results if not r.ok]
    assert not failed, "\n".join(
        f"{replay_command(r, big=True)}\n  {r.violations[0]}" for r in failed
    )
    assert any(r.label.startswith("64 nodes") for r in results)
