"""Invariants, checked as the simulation runs (each step's effects are checked as they
happen, which is when a violation would begin).

The checker computes quorums on its own, from the decided history it observed, and
measures token holding in *real* simulated time, which no node can read.
"""

from dataclasses import dataclass, field

from cluster.core.effects import LeaseChanged, LeaseGained
from cluster.core.membership import FOREVER
from cluster.core.messages import QUORUM_SERVER, Membership
from cluster.core.paxos import AcceptorState


class Violation(AssertionError):
    """An invariant broke; the message says which and when."""


def acceptors_of(m: Membership, quorum_server: bool) -> tuple[frozenset[str], int]:
    """Deliberately written apart from cluster.core.paxos: the reference answer."""
    nodes = set(m.members)
    if quorum_server and len(nodes) % 2 == 0 and nodes:
        nodes.add(QUORUM_SERVER)
    return frozenset(nodes), len(nodes) // 2 + 1


@dataclass
class Holding:
    host: str
    since: int  # real ns
    until: int | None = None  # real ns when its stop completes; None while held


@dataclass
class Checker:
    quorum_server: bool
    member_timeout: int
    decided: dict[int, Membership] = field(default_factory=dict)
    decided_at: dict[int, int] = field(default_factory=dict)
    tokens: dict[str, Holding] = field(default_factory=dict)
    grants: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    handovers: int = 0  # a token granted to another node than its last holder
    tightest: int | None = None  # smallest gap (ns) between a stop and the next start

    def fail(self, now: int, text: str) -> None:
        line = f"t={now / 1e6:.3f}ms: {text}"
        self.violations.append(line)
        raise Violation(line)  # the run stops at its first violation

    # --------------------------------------------------------- one decision per epoch

    def on_decided(self, now: int, host: str, m: Membership) -> None:
        known = self.decided.get(m.epoch)
        if known is None:
            self.decided[m.epoch] = m
            self.decided_at[m.epoch] = now
        elif known != m:
            self.fail(now, f"two memberships decided for epoch {m.epoch}: {known} and {m} ({host})")

    # ---------------------------------------------------------------------- leases

    def on_granted_answer(self, host: str, responder: str, epoch: int, send_time: int) -> None:
        """Ground truth: `responder` granted `host`'s ping of `epoch` sent at send_time."""
        book = self.grants.setdefault(host, {})
        key = (responder, epoch)
        if send_time > book.get(key, -FOREVER):
            book[key] = send_time

    def on_lease(self, now: int, host: str, effect: LeaseGained | LeaseChanged) -> None:
        """A lease must rest on a decided membership that counts `host`, on a majority of
        that membership's acceptors (computed here), and on answers actually granted to
        pings sent less than MT before the deadline: two holders in one epoch then share
        an acceptor, and a late or replayed answer cannot stretch a lease."""
        m = self.decided.get(effect.basis_epoch)
        if m is None:
            self.fail(now, f"{host} holds a lease in undecided epoch {effect.basis_epoch}")
            return
        if host not in m.members:
            self.fail(now, f"{host} holds a lease in epoch {m.epoch} it is not a member of")
        acceptors, quorum = acceptors_of(m, self.quorum_server)
        support = effect.support
        if not support <= acceptors or len(support) < quorum:
            self.fail(
                now,
                f"{host} lease in epoch {m.epoch} rests on {sorted(support)}, "
                f"not a majority of {sorted(acceptors)}",
            )
        if effect.deadline >= FOREVER:
            if quorum != 1:
                self.fail(now, f"{host} holds an endless lease with quorum {quorum}")
            return
        book = self.grants.get(host, {})
        horizon = effect.deadline - self.member_timeout
        backed = 1 + sum(
            1
            for r in acceptors
            if r != host and book.get((r, effect.basis_epoch), -FOREVER) >= horizon
        )
        if backed < quorum:
            self.fail(
                now,
                f"{host} claims a lease until {effect.deadline} in epoch {m.epoch} but only "
                f"{backed} of {quorum} needed acceptors granted a ping sent since {horizon}",
            )

    def on_granting(self, now: int, responder: str, epoch: int, acceptor: AcceptorState) -> None:
        """An acceptor that promised anything for epoch e+1 must not grant an epoch-e ping
        (read from its acceptor state as it was when the answer left)."""
        later = acceptor.epoch > epoch + 1 or (
            acceptor.epoch == epoch + 1 and acceptor.promised is not None
        )
        if later:
            self.fail(now, f"{responder} granted an epoch-{epoch} ping after promising later")

    # -------------------------------------------------------------------- exclusivity

    def acquire(self, now: int, token: str, host: str) -> None:
        held = self.tokens.get(token)
        if held is not None and held.host == host and (held.until is None or held.until > now):
            # The same host starting it while an instance still holds it: two service
            # processes (a restarted cmcld that forgot what its predecessor ran).
            self.fail(now, f"token {token} started again on {host} while still held there")
        if held is not None and held.host != host and (held.until is None or held.until > now):
            end = "still held" if held.until is None else f"held until {held.until / 1e6:.3f}ms"
            self.fail(now, f"token {token} granted to {host} while {held.host} {end}")
        if held is not None and held.host != host and held.until is not None:
            self.handovers += 1
            gap = now - held.until
            self.tightest = gap if self.tightest is None else min(self.tightest, gap)
        self.tokens[token] = Holding(host, now)

    def release(self, token: str, host: str, at: int) -> None:
        held = self.tokens.get(token)
        if held is not None and held.host == host:
            held.until = at if held.until is None else min(held.until, at)

    def holder(self, token: str, now: int) -> str | None:
        held = self.tokens.get(token)
        if held is None or (held.until is not None and held.until <= now):
            return None
        return held.host
