"""Seeds from long sweeps that once found a bug, kept so it stays fixed.

Each entry: seed, and what it found. Replay any with
`.venv/bin/python -m tests.sim.replay --seed N --trace`.
"""

import pytest

from tests.sim.run import replay_command, run_seed

FOUND = {
    103662: "a token still stopping was reported held and never granted again",
    306971: "cmhaltnode: a grant accepted while halting, stopped only at the leave; "
    "the leaver's packages were taken over at once (now: after the stop margin)",
    1186: "cmqsd's answer to a ping, held for a persist, left after a later promise",
    1265: "without the quorum server's state check: its state lost, it voted a second "
    "membership into epoch 2",
}


@pytest.mark.parametrize("seed", sorted(FOUND))
def test_found_by_a_sweep(seed: int) -> None:
    print(f"seed {seed}: {FOUND[seed]}")
    result = run_seed(seed)
    assert result.ok, f"{replay_command(result)}\n  {result.violations[0]}"
