"""The watchdog feed rule (cluster/core/watchdog.py) against freezes that stop the
host's clock: whatever the freezes, once renewals stop the device resets the host by
the real time others may take over; a host that is never frozen is never reset while
renewals come. The old rule (feed while now + T is before the deadline) is played
back too, and fails, so the check can."""

from collections.abc import Callable
from dataclasses import dataclass
from random import Random

from cluster.core.timing import MS, SECOND
from cluster.core.watchdog import FeedRule, device_timeout, feed_limit, stretch

STEP = 10 * MS


@dataclass
class Outcome:
    reset_at: int | None  # real time the device reset the host
    takeover_at: int  # real time others may take over, by the last deadline
    cut_at: int
    frozen: bool


def old_rule(rule: FeedRule, now: int) -> bool:
    """Before: feed whenever a frozen host would still be reset by the deadline if it
    were frozen from now on, as if its clock never lagged."""
    return rule.deadline is None or now + stretch(rule.timeout) <= rule.deadline


def play(seed: int, decide: Callable[[FeedRule, int], bool] | None = None) -> Outcome:
    rng = Random(seed)
    lease = rng.choice([3, 4, 6, 14]) * SECOND
    heartbeat = lease // 10
    limit = feed_limit(lease, heartbeat)
    timeout = device_timeout(limit, rng.randint(0, limit), 100 * MS)
    assert timeout >= 100 * MS
    device_rate = rng.uniform(0.99, 1.01)  # the device's timer against real time
    rule = FeedRule(timeout, lease)
    cut_at = rng.randint(2 * lease, 4 * lease)
    freezes = []
    for _ in range(rng.choice([0, 1, 2, 3, 5])):
        start = rng.randint(lease, cut_at + lease)
        freezes.append((start, start + rng.randint(STEP, 3 * timeout // 2)))
    local = 0
    renewals: list[tuple[int, int, int]] = []  # (arrives at real, deadline, sent at real)
    next_heartbeat = 0
    device_due: int | None = None
    takeover = 0
    now = 0
    while now < cut_at + 4 * lease:
        now += STEP
        if any(a <= now < b for a, b in freezes):
            if device_due is not None and now >= device_due:
                break
            continue  # nothing runs, the clock stands still
        local += STEP
        if local >= next_heartbeat and now < cut_at:
            renewals.append((now + rng.randint(MS, 50 * MS), local + lease, now))
            next_heartbeat = local + heartbeat
        for item in [r for r in renewals if r[0] <= now]:
            renewals.remove(item)
            rule.renewed(item[1])
            takeover = item[2] + lease
        if device_due is not None and now >= device_due:
            break
        if rule.deadline is not None:
            feed = (decide or FeedRule.should_feed)(rule, local)
        else:  # disarmed: every T/2
            feed = not rule.feeds or local - rule.feeds[-1] >= timeout // 2
        if feed:
            rule.fed(local)
            device_due = now + int(timeout * device_rate)
    else:
        return Outcome(None, takeover, cut_at, bool(freezes))
    return Outcome(now, takeover, cut_at, bool(freezes))


def test_a_frozen_or_cut_off_host_is_reset_before_anyone_takes_over() -> None:
    for seed in range(400):
        out = play(seed)
        assert out.reset_at is not None, f"seed {seed}: never reset after renewals stopped"
        assert out.reset_at <= out.takeover_at, (
            f"seed {seed}: reset at {out.reset_at / 1e9:.3f} s, others take over at "
            f"{out.takeover_at / 1e9:.3f} s"
        )
        if not out.frozen:
            assert out.reset_at > out.cut_at, f"seed {seed}: a healthy host was reset"


def test_the_old_rule_lets_a_thawed_host_outlive_its_lease() -> None:
    late = [
        s for s in range(400) if (o := play(s, old_rule)).reset_at and o.reset_at > o.takeover_at
    ]
    assert late, "the old rule never failed: the check cannot tell"
