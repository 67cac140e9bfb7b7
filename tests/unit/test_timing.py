import pytest

from cluster.core.timing import MS, SECOND, Timing, TimingError


def test_serviceguard_default() -> None:
    t = Timing.for_member_timeout()
    assert t.member_timeout == 14 * SECOND
    assert t.heartbeat == SECOND  # MT/10 capped at 1 s
    assert t.stop_margin == 14 * SECOND // 5
    assert t.takeover_wait == 14 * SECOND + 140 * MS


def test_one_second() -> None:
    t = Timing.for_member_timeout(SECOND)
    assert (t.heartbeat, t.stop_margin, t.proposal_step) == (100 * MS, 200 * MS, 50 * MS)
    assert t.stretch(1000) == 1010


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"heartbeat": 600 * MS}, "heartbeat"),
        ({"stop_margin": 950 * MS}, "stop_margin"),
        ({"rho_ppm": -1}, "rho_ppm"),
    ],
)
def test_refused(kwargs: dict[str, int], words: str) -> None:
    with pytest.raises(TimingError, match=words):
        Timing.for_member_timeout(SECOND, **kwargs)
