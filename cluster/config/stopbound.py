"""How long each package's stop-now may take, the STOP_MARGIN a configuration needs,
and what protects against a frozen host: the checks cmcheckconf and cmapplyconf make.

A node begins its stop-now path at `deadline - STOP_MARGIN`, and others reason only
about the deadline (DESIGN.md §2), so every package a node runs must be able to stop
within the margin. Stop-now runs packages side by side and each package's steps one
after the other, each bounded (cluster/resources/stopnow.py, with the STOP_NOW_*
constants of cluster/core/timing.py). So:

    bound(package) = wake-up + the sum of its steps' bounds
    STOP_MARGIN    = max(200 ms, MT/5, every package's bound), at most MT/2

A package whose bound exceeds MT/2 is refused: no margin the lease allows covers it
(the rest of the lease is what tolerates lost heartbeats). One that needs more than
the default margin raises it, and the check says so with the figures.
"""

from dataclasses import dataclass

from cluster.config.model import Cluster, Config, Package
from cluster.config.problems import Problems
from cluster.config.units import MILLISECOND, human_duration
from cluster.core.timing import (
    MAX_STOP_MARGIN_DIVISOR,
    MIN_STOP_MARGIN,
    STOP_NOW_OCF,
    STOP_NOW_START,
    STOP_NOW_STEP,
    STOP_NOW_UNMOUNT,
    STOP_NOW_VG,
)
from cluster.core.watchdog import device_timeout, feed_limit

NS_PER_US = 1_000
WATCHDOG_STEP_US = 1_000_000  # WDIOC_SETTIMEOUT takes whole seconds


def _us(ns: int) -> int:
    return ns // NS_PER_US


@dataclass(frozen=True)
class StopBound:
    """A package's stop-now bound, µs, and what it is made of (for the messages)."""

    package: str
    total_us: int
    parts: tuple[tuple[str, int], ...]

    def words(self) -> str:
        """ "vg vg01 3s, fs /data 220ms, 2 services 20ms, wake-up 20ms" """
        return ", ".join(f"{what} {human_duration(us)}" for what, us in self.parts)


def package_stop_bound(package: Package) -> StopBound:
    """The longest the package's stop-now may take once everything in it is active;
    the same sum `stopnow.package_bounds` makes of a live plan."""
    step, unmount = _us(STOP_NOW_STEP), _us(STOP_NOW_UNMOUNT + 2 * STOP_NOW_STEP)
    parts: list[tuple[str, int]] = []
    groups = len(package.services) + (1 if package.run_script or package.halt_script else 0)
    if groups:
        parts.append((_count(groups, "process group"), groups * step))
    if package.ip_addresses:
        n = len(package.ip_addresses)
        parts.append((_count(n, "address", "addresses"), n * step))
    parts += [(f"OCF {ocf.name}", _us(STOP_NOW_OCF)) for ocf in package.ocf_resources]
    parts += [(f"fs {fs.directory}", unmount) for fs in package.filesystems]
    parts += [(f"vg {vg}", _us(STOP_NOW_VG)) for vg in package.volume_groups]
    parts.append(("wake-up", _us(STOP_NOW_START)))
    return StopBound(package.name, sum(us for _, us in parts), tuple(parts))


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"


def default_margin_us(member_timeout_us: int) -> int:
    """The margin before packages are counted: the larger of 200 ms and MT/5."""
    return max(_us(MIN_STOP_MARGIN), member_timeout_us // 5)


def max_margin_us(member_timeout_us: int) -> int:
    return member_timeout_us // MAX_STOP_MARGIN_DIVISOR


def stop_margin_us(config: Config) -> int:
    """STOP_MARGIN for this configuration (the same on every node: others rely on it
    for a node that leaves): wide enough for every package, never above MT/2."""
    mt = config.cluster.member_timeout_us
    needed = max((package_stop_bound(p).total_us for p in config.packages), default=0)
    return min(max(default_margin_us(mt), needed), max_margin_us(mt))


def stop_margin_ns(config: Config) -> int:
    return stop_margin_us(config) * NS_PER_US


def watchdog_timeout_ns(config: Config) -> int:
    """The watchdog timeout the guard sets: the whole seconds the feed rule allows
    (cluster/core/watchdog.py), within what STOP_MARGIN leaves over the longest package
    stop-now where a second fits there; 0 if no whole second fits the lease."""
    cluster = config.cluster
    limit = feed_limit(cluster.member_timeout_us, cluster.heartbeat_interval_us)
    longest = max((package_stop_bound(p).total_us for p in config.packages), default=0)
    slack = stop_margin_us(config) - longest
    return device_timeout(limit, slack, WATCHDOG_STEP_US) * NS_PER_US


def validate_stop(config: Config, problems: Problems) -> None:
    """Packages that cannot stop within the margin; the frozen-host protection."""
    _stop_margin(config, problems)
    _frozen_host(config, problems)


def _stop_margin(config: Config, problems: Problems) -> None:
    mt = config.cluster.member_timeout_us
    default, most = default_margin_us(mt), max_margin_us(mt)
    bounds = sorted(
        (package_stop_bound(p) for p in config.packages), key=lambda b: (-b.total_us, b.package)
    )
    origin = {p.name: p.origin for p in config.packages}
    for bound in bounds:
        if bound.total_us <= most:
            break
        problems.error(
            *origin[bound.package].where("PACKAGE_NAME"),
            f"package {bound.package} cannot stop within STOP_MARGIN: its stop-now may take "
            f"{human_duration(_ms(bound.total_us))} ({bound.words()}), but at MEMBER_TIMEOUT "
            f"{human_duration(mt)} STOP_MARGIN is at most {human_duration(most)} "
            "(MEMBER_TIMEOUT/2), so another node could start it while this one still holds "
            f"it; raise MEMBER_TIMEOUT to at least "
            f"{human_duration(_ms(MAX_STOP_MARGIN_DIVISOR * bound.total_us))}",
        )
    wide = [b for b in bounds if default < b.total_us <= most]
    if wide:
        first = wide[0]
        others = len(wide) - 1
        more = f"; {_count(others, 'other package')} also need{'s' * (others == 1)} more"
        problems.warn(
            *origin[first.package].where("PACKAGE_NAME"),
            f"STOP_MARGIN is {human_duration(_ms(first.total_us))} instead of "
            f"{human_duration(default)} so that package {first.package} can stop in time "
            f"({first.words()}){more if others else ''}: a node whose pings go unanswered "
            f"then stops its packages after {human_duration(_ms(mt - first.total_us))} instead of "
            f"{human_duration(mt - default)} (MEMBER_TIMEOUT {human_duration(mt)} minus "
            "STOP_MARGIN)",
        )


def _ms(us: int) -> int:
    """Rounded up to a millisecond, for messages."""
    return -(-us // MILLISECOND) * MILLISECOND


def _frozen_host(config: Config, problems: Problems) -> None:
    cluster = config.cluster
    failover = [p for p in config.packages if p.is_failover]
    if cluster.watchdog_device is None:
        if not failover:
            return
        unprotected = [p.name for p in failover if not p.ip_addresses and not p.filesystems]
        tail = (
            f"; nothing protects {', '.join(unprotected[:5])}"
            f"{f' and {len(unprotected) - 5} more' if len(unprotected) > 5 else ''} "
            "(no floating IP, no filesystem)"
            if unprotected
            else ""
        )
        problems.warn(
            *cluster.origin.where("CLUSTER_NAME"),
            "no WATCHDOG_DEVICE: a host frozen together with its lease guard (VM pause, "
            "cgroup freeze, SIGSTOP of both) keeps its packages' processes, addresses and "
            "mounts until it resumes, while another node takes them over after "
            f"MEMBER_TIMEOUT {human_duration(cluster.member_timeout_us)}; only the "
            "duplicate-address probe (floating IPs) and MMP (ext4 -O mmp) then protect"
            f"{tail}. Configure a watchdog (softdog or a hardware one)",
        )
        return
    limit = feed_limit(cluster.member_timeout_us, cluster.heartbeat_interval_us)
    if limit < WATCHDOG_STEP_US:
        needed = _needed_member_timeout_us(cluster)
        problems.warn(
            *cluster.origin.where("WATCHDOG_DEVICE"),
            f"WATCHDOG_DEVICE {cluster.watchdog_device} cannot reset a frozen host before "
            f"others take over at MEMBER_TIMEOUT {human_duration(cluster.member_timeout_us)}: "
            "a watchdog timeout is whole seconds, and the lease must hold two of them "
            "(a host whose clock stopped while frozen does not know it was), so it allows "
            f"at most {human_duration(limit // MILLISECOND * MILLISECOND)} (half of "
            "MEMBER_TIMEOUT less two heartbeats, less 2 %); raise MEMBER_TIMEOUT to at "
            f"least {human_duration(needed)}",
        )


def _needed_member_timeout_us(cluster: Cluster) -> int:
    """The shortest MEMBER_TIMEOUT (whole ms) at which a 1 s watchdog fits the lease."""
    mt = WATCHDOG_STEP_US
    while feed_limit(mt, min(mt // 10, 1_000_000)) < WATCHDOG_STEP_US:
        mt += MILLISECOND
    return mt
