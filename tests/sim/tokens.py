"""Abstract package tokens: a stand-in for the policy engine, driven only by the core's
effects, so the simulator can check exclusivity in real time.

The coordinator of an epoch asks every member what it holds (a member counts a token
whose stop is still running as held), waits until every non-member's takeover time,
then grants each token nobody holds to its first preferred member. A node keeps a token
while its lease lasts; on LeaseLost (or when its guard fires because the process is
paused) it stops, which takes a random time within half the stop margin.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cluster.core.messages import Membership

if TYPE_CHECKING:
    from tests.sim.world import Host


@dataclass(frozen=True)
class TokenQuery:
    epoch: int


@dataclass(frozen=True)
class TokenReport:
    epoch: int
    tokens: frozenset[str]  # running or still stopping: not to be granted elsewhere
    running: frozenset[str]


@dataclass(frozen=True)
class TokenGrant:
    epoch: int
    token: str


AgentMessage = TokenQuery | TokenReport | TokenGrant


class TokenAgent:
    def __init__(self, host: "Host", prefs: dict[str, tuple[str, ...]]) -> None:
        self.host = host
        self.prefs = prefs
        self.held: dict[str, int] = {}  # token -> epoch of its grant
        self.stopping: dict[str, int] = {}  # token -> real time its stop completes
        self.epoch = -1  # the epoch we coordinate, if any
        self.members: tuple[str, ...] = ()
        self.reports: dict[str, frozenset[str]] = {}
        self.running: dict[str, frozenset[str]] = {}
        self._retry_at = (-1, 0)  # the one grant retry timer set (epoch, local time)
        self.takeover: dict[str, int] = {}
        self.granted: dict[str, str] = {}  # token -> the member it went to this epoch

    # ------------------------------------------------------------------ all nodes

    def reported(self) -> frozenset[str]:
        now = self.host.world.now
        return frozenset(self.held) | {t for t, done in self.stopping.items() if done > now}

    def report(self, epoch: int) -> TokenReport:
        return TokenReport(epoch, self.reported(), frozenset(self.held))

    def stop_all(self, why: str) -> int:
        """Stop every token (stop-now); returns the real time the last stop ends."""
        world = self.host.world
        end = world.now
        margin = world.cfg.timing.stop_margin
        for token in sorted(self.held):
            done = world.now + world.rng.randint(0, margin // 2)
            self.stopping[token] = done
            world.checker.release(token, self.host.name, done)
            world.trace(f"{self.host.name} stops {token} ({why}), done at {done / 1e6:.3f}ms")
            end = max(end, done)
        self.held.clear()
        return end

    def crash(self) -> None:
        world = self.host.world
        for token in set(self.held) | set(self.stopping):
            world.checker.release(token, self.host.name, world.now)
        self.held.clear()
        self.stopping.clear()
        self.epoch = -1

    def on_message(self, sender: str, message: AgentMessage) -> None:
        node = self.host.node
        assert node is not None
        if isinstance(message, TokenQuery):
            if node.decided_membership().epoch == message.epoch:
                self.host.send(sender, self.report(message.epoch))
        elif isinstance(message, TokenReport):
            if message.epoch == self.epoch:
                self.reports[sender] = message.tokens
                self.running[sender] = message.running
                self._try_grant()
        elif isinstance(message, TokenGrant):
            self._on_grant(sender, message)

    def _on_grant(self, sender: str, grant: TokenGrant) -> None:
        node = self.host.node
        assert node is not None
        decided = node.decided_membership()
        ok = (
            node.active
            and decided.epoch == grant.epoch
            and decided.coordinator == sender
            and node.holds_lease(self.host.local_now())
            and grant.token not in self.held
        )
        if ok:
            self.held[grant.token] = grant.epoch
            self.stopping.pop(grant.token, None)
            world = self.host.world
            world.trace(f"{self.host.name} starts {grant.token} (epoch {grant.epoch})")
            world.checker.acquire(world.now, grant.token, self.host.name)

    # ------------------------------------------------------------------ coordinator

    def on_decided(self, m: Membership) -> None:
        if self.host.name in m.members and m.coordinator != self.host.name:
            self.host.send(m.coordinator, self.report(m.epoch))
        if m.coordinator != self.host.name:
            self.epoch = -1
            return
        self.epoch = m.epoch
        self.members = m.members
        self.reports = {}
        self.running = {}
        self.takeover = {}
        self.granted = {}
        self._poll(m.epoch)

    def on_takeover(self, node: str, epoch: int, at: int) -> None:
        if epoch == self.epoch:
            self.takeover[node] = at
            self._try_grant()

    def _poll(self, epoch: int) -> None:
        node = self.host.node
        if epoch != self.epoch or node is None or node.decided_membership().epoch != epoch:
            return
        for member in self.members:
            if member == self.host.name:
                self.reports[member] = self.reported()
                self.running[member] = frozenset(self.held)
            else:
                self.host.send(member, TokenQuery(epoch))
        self._try_grant()
        if set(self.reports) != set(self.members) or not self._all_held():
            self.host.agent_timer(self.host.world.cfg.timing.heartbeat, self._poll, epoch)

    def _all_held(self) -> bool:
        """Every token running, not merely still stopping somewhere: a stop ends, and
        the token must then be granted again, so we keep asking until then."""
        running = frozenset().union(*self.running.values())
        return all(t in running for t in self.prefs)

    def _try_grant(self) -> None:
        host = self.host
        node = host.node
        if node is None or node.decided_membership().epoch != self.epoch:
            return
        if set(self.reports) != set(self.members):
            return
        outsiders = set(node.spec.nodes) - set(self.members)
        if not outsiders <= set(self.takeover):
            return
        allowed = max((self.takeover[n] for n in outsiders), default=0)
        now = host.local_now()
        if now < allowed:
            if self._retry_at != (self.epoch, allowed):
                self._retry_at = (self.epoch, allowed)
                host.agent_timer_at(allowed, self._retry, self.epoch)
            return
        if not node.holds_lease(now):
            return  # _poll comes back every heartbeat
        held = frozenset().union(*self.reports.values())
        for token, prefs in sorted(self.prefs.items()):
            if token in held:
                continue
            # One owner per token and epoch; a grant refused (owner without its lease
            # yet) or lost is simply sent again to the same owner.
            owner = self.granted.get(token) or next(n for n in prefs if n in self.members)
            self.granted[token] = owner
            host.world.trace(f"{host.name} grants {token} to {owner} (epoch {self.epoch})")
            host.send(owner, TokenGrant(self.epoch, token))

    def _retry(self, epoch: int) -> None:
        if epoch == self.epoch:
            self._try_grant()
