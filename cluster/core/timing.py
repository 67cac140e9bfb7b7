"""Timing parameters of the membership protocol, declared once with unit and default.

Every duration is an integer count of nanoseconds of a node's local monotonic clock.
Clocks are not synchronised; the protocol only assumes their *rates* differ by at most
`rho` (RHO_PPM parts per million), which is why waits that must outlast another node's
lease are stretched by (1 + rho).
"""

from dataclasses import dataclass

MS = 1_000_000
SECOND = 1_000 * MS
PPM = 1_000_000

DEFAULT_MEMBER_TIMEOUT = 14 * SECOND  # Serviceguard's default MEMBER_TIMEOUT
DEFAULT_RHO_PPM = 10_000  # 1 %: generous for any quartz or TSC a node runs on
MIN_STOP_MARGIN = 200 * MS
MAX_STOP_MARGIN_DIVISOR = 2  # STOP_MARGIN is at most MT/2: the rest tolerates lost heartbeats
# The bound stop-now gives each step (cluster/resources/stopnow.py enforces them; the
# configured packages' sums decide STOP_MARGIN, cluster/config/stopbound.py):
STOP_NOW_START = 20 * MS  # the guard waking up late and loading its plan
STOP_NOW_STEP = 10 * MS  # SIGKILL of a process group, removal of an address
STOP_NOW_UNMOUNT = 200 * MS  # kill the users, unmount while busy, then force / detach
STOP_NOW_OCF = 2 * SECOND  # an OCF agent's stop
STOP_NOW_VG = 3 * SECOND  # vgchange -a n, and --deltag in what is left of it
MAX_HEARTBEAT = 1 * SECOND
MAX_PROPOSAL_STEP = 100 * MS


class TimingError(ValueError):
    """A timing parameter is out of range or inconsistent with another one."""


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Timing:
    """The membership timing of one cluster; build it with `Timing.for_member_timeout`.

    member_timeout: MEMBER_TIMEOUT (MT), ns. A lease lasts MT from the send time of the
        answered pings that support it; a peer unheard for MT is considered failed.
    heartbeat: HB, ns between pings to each peer; default min(MT/10, 1 s).
    rho_ppm: bound on the ratio of two nodes' clock rates, minus one, in ppm.
    stop_margin: a node starts its stop-now path this long before its lease deadline;
        default max(200 ms, MT/5).
    proposal_step: extra delay per rank before a node other than the coordinator
        proposes a new membership, so proposers rarely duel; default min(HB/2, 100 ms).
    round_timeout: a Paxos phase with no progress for this long is abandoned and retried
        after a random back-off; default 2 x proposal_step, at least 20 ms.
    auto_start_timeout: AUTO_START_TIMEOUT, how long a booting node waits for all
        configured nodes before giving up forming a cluster; default 10 min.
    """

    member_timeout: int
    heartbeat: int
    rho_ppm: int
    stop_margin: int
    proposal_step: int
    round_timeout: int
    auto_start_timeout: int

    @classmethod
    def for_member_timeout(
        cls,
        member_timeout: int = DEFAULT_MEMBER_TIMEOUT,
        *,
        heartbeat: int | None = None,
        rho_ppm: int = DEFAULT_RHO_PPM,
        stop_margin: int | None = None,
        proposal_step: int | None = None,
        round_timeout: int | None = None,
        auto_start_timeout: int = 600 * SECOND,
    ) -> "Timing":
        """Timing derived from MEMBER_TIMEOUT, each default overridable; validated."""
        hb = heartbeat if heartbeat is not None else min(member_timeout // 10, MAX_HEARTBEAT)
        margin = max(MIN_STOP_MARGIN, member_timeout // 5)
        step = proposal_step if proposal_step is not None else min(hb // 2, MAX_PROPOSAL_STEP)
        timing = cls(
            member_timeout=member_timeout,
            heartbeat=hb,
            rho_ppm=rho_ppm,
            stop_margin=stop_margin if stop_margin is not None else margin,
            proposal_step=step,
            round_timeout=round_timeout if round_timeout is not None else max(2 * step, 20 * MS),
            auto_start_timeout=auto_start_timeout,
        )
        timing.validate()
        return timing

    def validate(self) -> None:
        """Refuse combinations under which the lease arithmetic would be unsafe or useless."""
        mt = self.member_timeout
        if mt <= 0:
            raise TimingError(f"member_timeout must be positive, got {mt} ns")
        if not 0 < self.heartbeat <= mt // 4:
            raise TimingError(
                f"heartbeat {self.heartbeat} ns must be positive and at most "
                f"member_timeout/4 = {mt // 4} ns"
            )
        if not 0 <= self.rho_ppm <= 100_000:
            raise TimingError(f"rho_ppm {self.rho_ppm} must be within 0..100000 (10 %)")
        if not 0 < self.stop_margin < mt - self.heartbeat:
            raise TimingError(
                f"stop_margin {self.stop_margin} ns must be positive and below "
                f"member_timeout - heartbeat = {mt - self.heartbeat} ns"
            )
        if self.proposal_step < 0 or self.round_timeout <= 0:
            raise TimingError("proposal_step must be >= 0 and round_timeout > 0")
        if self.auto_start_timeout <= 0:
            raise TimingError("auto_start_timeout must be positive")

    def stretch(self, duration: int) -> int:
        """`duration` x (1 + rho), rounded up: a wait on one clock that surely covers
        `duration` on any other clock."""
        return duration + _ceil_div(duration * self.rho_ppm, PPM)

    @property
    def takeover_wait(self) -> int:
        """MT x (1 + rho): how long after its last supporting answer a lease surely ended."""
        return self.stretch(self.member_timeout)

    @property
    def suspect_after(self) -> int:
        """A peer whose newest answer is older than this is not "answering" for the
        purpose of asking the quorum server (three missed heartbeats)."""
        return 3 * self.heartbeat
