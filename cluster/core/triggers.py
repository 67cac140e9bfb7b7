"""When a node should propose a new membership: pure functions of what it knows.

A member proposes when it sees a member it no longer hears (after MEMBER_TIMEOUT), a
member that wants out or must be taken back through a new epoch (it restarted or lost
its lease), itself in either case, or a configured node asking to join; a node of a
halted or never-formed cluster proposes the formation once every node is up and wants
to run (AUTO_START). Proposers take turns by rank: the coordinator first.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from cluster.core.membership import Heartbeats
from cluster.core.messages import Intent, Membership


@dataclass(frozen=True)
class Facts:
    """One node's situation at `now`, as the trigger rules read it."""

    me: str
    nodes: tuple[str, ...]  # configured
    decided: Membership
    intent: Intent
    active: bool
    booted: bool  # up two heartbeats: our own view is worth proposing with
    mature: bool  # up MEMBER_TIMEOUT: a peer we do not hear is really gone
    now: int
    settled: bool = True  # the decided membership is two heartbeats old: leases renewed in it


def change_reasons(f: Facts, hb: Heartbeats) -> Iterator[str]:
    """Every reason, as this node sees it, for the membership to change."""
    decided = f.decided
    if f.intent is Intent.HALTED or not f.booted:
        return
    if f.me not in decided.members:
        if formation_wanted(f, hb):
            yield "form"
        return
    for member in decided.members:
        if member == f.me:
            if f.intent is Intent.LEAVE:
                yield "leaving"
            elif not f.active:
                yield "rejoining"
            continue
        if not hb.heard(member, f.now):
            if f.mature:
                yield f"{member} not heard for MEMBER_TIMEOUT"
            continue
        info = hb.info.get(member)
        if info is None or info.epoch != decided.epoch:
            continue  # it has not learned this membership yet: what it said is stale
        if info.intent is Intent.BOOTING:
            continue  # it will say what it wants once its view is settled
        if info.intent is not Intent.RUN:
            yield f"{member} is {info.intent.value}"
        elif not info.active:
            yield f"{member} needs a new epoch"
    for peer in f.nodes:
        info = hb.info.get(peer)
        if (
            peer not in decided.members
            and info is not None
            and info.intent is Intent.RUN
            and info.epoch == decided.epoch
            and hb.heard(peer, f.now)
            and f.settled
        ):
            # A join can wait until the members' leases rest on this epoch's answers: a
            # new proposal stops them, so epochs back to back (nodes booting one by one)
            # would let leases lapse; joiners meanwhile come in together.
            yield f"{peer} joins"


def formation_wanted(f: Facts, hb: Heartbeats) -> bool:
    """AUTO_START on a cluster that is not running: form once every node is up and
    wants to run, none of them in a running cluster; the lowest-named node proposes."""
    if f.decided.members or f.intent is not Intent.RUN or f.me != f.nodes[0]:
        return False
    for peer in f.nodes[1:]:
        info = hb.info.get(peer)
        if info is None or not hb.heard(peer, f.now) or info.intent is not Intent.RUN:
            return False
        if info.epoch != f.decided.epoch or info.active:
            return False
    return True


def proposer_rank(f: Facts, hb: Heartbeats) -> int:
    """Our place among the members that may propose, the coordinator first, then by
    name; the proposal of rank r waits r proposal steps, so proposers rarely duel."""
    decided = f.decided
    order = sorted(decided.members, key=lambda m: (m != decided.coordinator, m))
    eligible = [
        m
        for m in order
        if m == f.me
        or (
            hb.heard(m, f.now)
            and (info := hb.info.get(m)) is not None
            and info.intent is not Intent.HALTED
        )
    ]
    return eligible.index(f.me) if f.me in eligible else len(order)
