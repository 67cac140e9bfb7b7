"""A host's watchdog device and the lease guard feeding it (WATCHDOG_DEVICE).

The device counts real time: unfed for its timeout, it resets the host, frozen or not.
The guard feeds it by the rule the real guard uses (cluster/core/watchdog.py): free
while disarmed, on renewals and when the device would soon run out while armed, never
again once it fired. Nothing of the guard runs while the host is frozen, and the host's
clock stands still meanwhile, so after a thaw the guard sees less time gone by than the
device did. A reset host boots again after a while, as a real one would.
"""

from typing import TYPE_CHECKING

from cluster.core.timing import MS, PPM
from cluster.core.watchdog import FeedRule, device_timeout, feed_limit, stretch

if TYPE_CHECKING:
    from tests.sim.world import Host

BOOT_TIME = (300 * MS, 1500 * MS)  # a reset host's reboot, until cmcld starts


def device_timeout_for(host: "Host") -> int:
    cfg = host.world.cfg
    t = cfg.timing
    if "watchdog-unanchored" in cfg.legacy:  # the old limit: MT less a heartbeat
        return (t.member_timeout - t.heartbeat) * PPM // (PPM + t.rho_ppm)
    # In steps of a heartbeat, as a real one is whole seconds and a heartbeat at most one.
    limit = feed_limit(t.member_timeout, t.heartbeat)
    return device_timeout(limit, t.stop_margin - cfg.stop_max, t.heartbeat)


class Device:
    def __init__(self, host: "Host") -> None:
        self.host = host
        self.rule = FeedRule(device_timeout_for(host), host.world.cfg.timing.member_timeout)
        self.due: int | None = None  # real time it resets the host unless fed before
        self.feeding = True  # False once the guard fired
        self.token = 0
        self.old_rule = "watchdog-unanchored" in host.world.cfg.legacy

    # -- what the guard hears ------------------------------------------------------------

    def renewed(self, deadline: int) -> None:
        self.rule.renewed(deadline)
        self.tick()

    def disarmed(self) -> None:
        self.rule.disarmed()
        self.tick()

    def fired(self) -> None:
        self.feeding = False

    # -- the guard feeding ---------------------------------------------------------------

    def _may_feed(self, local: int) -> bool:
        rule = self.rule
        if rule.deadline is None:
            return not rule.feeds or local - rule.feeds[-1] >= rule.timeout // 2
        if self.old_rule:  # feed while a host frozen from now on is reset by the deadline
            return local + stretch(rule.timeout) <= rule.deadline
        return rule.should_feed(local)

    def tick(self) -> None:
        """The guard wakes: feeds if it may, and sets its next wake-up."""
        host, world = self.host, self.host.world
        if not self.feeding or host.frozen_at is not None or host.device is not self:
            return
        rule, local = self.rule, host.local_now()
        if self._may_feed(local):
            rule.fed(local)
            self.due = world.now + rule.timeout
            world.at(self.due, self._runs_out, self.due)
        if not rule.feeds:
            return
        if rule.deadline is None:
            wake = rule.feeds[-1] + rule.timeout // 2
        elif self.old_rule:
            wake = max(rule.feeds[-1] + rule.timeout // 2, rule.deadline - stretch(rule.timeout))
        else:
            wake = rule.feeds[-1] + rule.timeout - rule.lead
        if wake > local:
            self.token += 1
            world.at(host.clock.real(wake), self._wake, self.token)

    def _wake(self, token: int) -> None:
        if token == self.token:
            self.tick()

    def _runs_out(self, due: int) -> None:
        host = self.host
        if self.due != due or host.device is not self:
            return
        world = host.world
        world.trace(f"{host.name}: the watchdog resets the host")
        host.resets += 1
        host.crash()
        low, high = BOOT_TIME
        world.at(
            world.now + world.rng.randint(low, high), host.reboot_after_reset, host.incarnation
        )
