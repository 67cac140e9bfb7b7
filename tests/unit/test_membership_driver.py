"""The membership driver's own rules, without a network."""

import asyncio
from pathlib import Path

from cluster.core.messages import NEVER_FORMED, Accept, Ballot, Prepare
from cluster.daemon.configstore import ConfigStore
from cluster.daemon.membership import FORGED_BALLOTS, MembershipDriver
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
