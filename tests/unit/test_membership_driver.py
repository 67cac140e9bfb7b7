"""The membership driver's own rules, without a network."""

import asyncio
import time
from pathlib import Path

from cluster.core.effects import LeaseLost
from cluster.core.messages import NEVER_FORMED, Accept, Ballot, Prepare
from cluster.core.timing import MS, SECOND, Timing
from cluster.daemon.configstore import ConfigStore
from cluster.daemon.membership import FORGED_BALLOTS, LeaseState, MembershipDriver
from cluster.paths import HostPaths
from cluster.security.pem import Credentials
from cluster.transport.stats import TransportStats


def driver(tmp_path: Path) -> tuple[MembershipDriver, TransportStats]:
    paths = HostPaths(tmp_path)
    stats = TransportStats()
    d = MembershipDriver(
        node="n1",
        paths=paths,
        store=ConfigStore(paths),
        credentials=Credentials(b"", b"", b""),
        stats=stats,
        port=5302,
        auto_start=False,
        on_newer_config=lambda: None,
    )
    return d, stats


def test_votes_only_from_their_proposer(tmp_path: Path) -> None:
    async def scenario() -> None:
        d, stats = driver(tmp_path)
        forged = Prepare("c", 2, Ballot(7, "n3"), NEVER_FORMED)
        d._deliver("n2", forged)
        d._deliver("n2", Accept("c", 2, Ballot(7, "n3"), NEVER_FORMED, NEVER_FORMED))
        assert d._events.empty()
        assert stats.snapshot()[FORGED_BALLOTS] == 2
        d._deliver("n3", forged)
        assert d._events.qsize() == 1

    asyncio.run(scenario())


class Recorder:
    """Stands for the lease guard and stop-now: what happened, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def disarm(self) -> None:
        self.calls.append("disarm")

    def stop_now(self, why: str) -> None:
        self.calls.append(f"stop-now: {why}")


def test_a_lease_lost_while_halting_stops_what_is_held_before_the_guard_is_disarmed(
    tmp_path: Path,
) -> None:
    """A halt in progress (cmhaltnode, cmhaltcl) when the lease goes: stop-now still runs
    first; before, the guard was disarmed with whatever was still held."""

    async def scenario() -> None:
        d, _ = driver(tmp_path)
        seen = Recorder()
        d._guard = seen  # type: ignore[assignment]
        d.on_lease_lost = seen.stop_now
        d._halting = True  # as command(HaltNode()) sets it
        await d._lease_lost(LeaseLost(3, time.monotonic_ns(), "left the membership"))
        assert seen.calls == ["stop-now: left the membership", "disarm"]

    asyncio.run(scenario())


def test_the_lease_is_not_held_once_stop_now_may_have_begun(tmp_path: Path) -> None:
    """The guard begins stop-now at deadline - STOP_MARGIN: from then on a service found
    dead is the node's failure, not the package's, even before cmcld's own loop has seen
    the lease go (the failure history it once recorded there moved a package off a
    healthy node after a partition)."""
    d, _ = driver(tmp_path)
    d.timing = Timing.for_member_timeout(SECOND)  # STOP_MARGIN 200 ms
    now = time.monotonic_ns()
    d.lease = LeaseState(3, now + 150 * MS, True)
    assert not d.holds_lease()
    d.lease = LeaseState(3, now + 10 * SECOND, True)
    assert d.holds_lease()
    d.lease = LeaseState(3, now + 10 * SECOND, False)
    assert not d.holds_lease()
