"""Local LAN failover: which interface of this node should carry each primary
interface's addresses, given which links are up (pure; cluster/daemon/lan.py acts).

A primary interface is one the cluster file gives addresses (HEARTBEAT_IP or
STATIONARY_IP); a standby is one it lists with none. When a primary's link fails, the
first standby that is up, carries nothing and is bridged to the primary's network takes
over its addresses (stationary, heartbeat and the floating IPs of packages that allow
it), as Serviceguard's cmcld does; when the primary's link comes back, they return to
it. One standby carries one primary at a time. A primary whose addresses sit on a
standby that fails too moves on to another free standby, or stays where it is when
there is none (nothing better).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Move:
    primary: str  # whose addresses move
    source: str  # the interface that carries them now
    target: str  # the interface that will
    why: str  # for the log: "eth0 link down", "eth0 link up again", ...


def plan(
    primaries: Sequence[str],
    standbys: Sequence[str],
    up: Mapping[str, bool],
    carrying: Mapping[str, str],
    serves: Mapping[str, frozenset[str]] | None = None,
) -> list[Move]:
    """The moves that bring the node to where it should be.

    `up`: whether each interface's link is up (a missing one is down); `carrying`: for
    each standby that carries a primary's addresses now, that primary; `serves`: for each
    standby, the primaries it was found bridged to (a standby missing there, never
    measured, may serve any). Primaries are served in their configured order, standbys
    taken in theirs.
    """
    serves = serves or {}
    where = {primary: primary for primary in primaries}
    for standby, primary in carrying.items():
        if primary in where and standby in standbys:
            where[primary] = standby
    moves: list[Move] = []
    busy: set[str] = set()
    waiting: list[str] = []
    for primary in primaries:
        here = where[primary]
        if up.get(primary, False):
            if here != primary:
                moves.append(Move(primary, here, primary, f"{primary} link up again"))
        elif here != primary and up.get(here, False):
            busy.add(here)  # a standby that works keeps carrying it
        else:
            waiting.append(primary)
    # A standby carrying a primary that returns home in this plan is free for others.
    for primary in waiting:
        here = where[primary]
        free = [
            s
            for s in standbys
            if up.get(s, False)
            and s not in busy
            and s != here
            and primary in serves.get(s, frozenset(primaries))
        ]
        if not free:
            if here != primary:
                busy.add(here)  # nowhere better: it stays on the failed standby
            continue
        target = free[0]
        busy.add(target)
        why = f"{primary} link down" if here == primary else f"{here} (carrying {primary}) down"
        moves.append(Move(primary, here, target, why))
    return moves


def apply(carrying: Mapping[str, str], moves: Sequence[Move]) -> dict[str, str]:
    """`carrying` after the moves were made."""
    result = dict(carrying)
    for move in moves:
        if result.get(move.source) == move.primary:
            del result[move.source]
        if move.target != move.primary:
            result[move.target] = move.primary
    return result
