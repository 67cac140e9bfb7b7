"""The membership state that must survive a crash, on disk.

A node's promises and accepted values, and the last membership it knows decided (the
quorum server's per-cluster acceptor state likewise), written as JSON through an
atomic, fsync'd rename before any reply that reveals them goes out. A file that cannot
be read is a hard stop: starting with a forgotten promise could decide two memberships
for one epoch, so the operator must look (and may remove the file only on a node that
is not running anywhere).
"""

import json
import logging
from pathlib import Path
from typing import Any

from cluster.atomicfile import write_atomic
from cluster.core.effects import Durable, QuorumDurable, QuorumSlot
from cluster.core.messages import Accepted, Ballot, Membership, QsState
from cluster.core.paxos import AcceptorState
from cluster.errors import CmError
from cluster.hostfiles import MAX_STATE_FILE, PRIVATE, RefusedFile, make_private, read_regular

log = logging.getLogger("cmcluster.state")

FORMAT = 1


def _ballot(b: Ballot | None) -> list[Any] | None:
    return None if b is None else [b.round, b.proposer]


def _ballot_back(v: Any) -> Ballot | None:
    return None if v is None else Ballot(int(v[0]), str(v[1]))


def _membership(m: Membership) -> dict[str, Any]:
    return {
        "epoch": m.epoch,
        "members": list(m.members),
        "coordinator": m.coordinator,
        "generation": m.generation,
    }


def _membership_back(v: dict[str, Any]) -> Membership:
    return Membership(
        int(v["epoch"]),
        tuple(str(n) for n in v["members"]),
        str(v["coordinator"]),
        int(v["generation"]),
    )


def _acceptor(a: AcceptorState) -> dict[str, Any]:
    return {
        "epoch": a.epoch,
        "promised": _ballot(a.promised),
        "accepted": None
        if a.accepted is None
        else {"ballot": _ballot(a.accepted.ballot), "value": _membership(a.accepted.value)},
    }


def _acceptor_back(v: dict[str, Any]) -> AcceptorState:
    accepted = v["accepted"]
    ballot = _ballot_back(accepted["ballot"]) if accepted else None
    return AcceptorState(
        int(v["epoch"]),
        _ballot_back(v["promised"]),
        Accepted(ballot, _membership_back(accepted["value"])) if accepted and ballot else None,
    )


def _qs(q: QsState | None) -> dict[str, Any] | None:
    if q is None:
        return None
    return {
        "state_id": q.state_id,
        "version": q.version,
        "reset": q.reset,
        "ancestors": [list(a) for a in q.ancestors],
    }


def _qs_back(v: Any) -> QsState | None:
    """A quorum-server state; None from a file written before lineages."""
    if v is None:
        return None
    ancestors = tuple((str(i), int(n)) for i, n in v["ancestors"])
    return QsState(str(v["state_id"]), int(v["version"]), int(v["reset"]), ancestors)


def dump(state: Durable | QuorumDurable) -> bytes:
    if isinstance(state, Durable):
        body: dict[str, Any] = {
            "format": FORMAT,
            "kind": "node",
            "decided": _membership(state.decided),
            "acceptor": _acceptor(state.acceptor),
            "qs": _qs(state.qs),
            "qs_floor": state.qs_floor,
        }
    else:
        body = {
            "format": FORMAT,
            "kind": "quorum",
            "slots": [
                {
                    "cluster": s.cluster_name,
                    "acceptor": _acceptor(s.acceptor),
                    "decided": _membership(s.decided),
                    "qs": _qs(s.qs),
                    "lost": s.lost,
                    "floor": s.floor,
                    "seen": list(s.seen),
                }
                for s in state.slots
            ],
        }
    return json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"


def load(path: Path) -> Durable | QuorumDurable | None:
    """The state in `path`, None when the file does not exist; CmError when unusable.

    A state file left open to group or others (by an older version) is made private."""
    old = make_private(path)
    if old is not None:
        log.warning("%s was mode %04o: made private (%04o)", path, old, old & 0o700)
    try:
        data = read_regular(path, MAX_STATE_FILE)
    except FileNotFoundError:
        return None
    except RefusedFile as exc:
        raise CmError(f"{path}: {exc}; refusing to start without its membership state") from None
    except OSError as exc:
        raise CmError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        body = json.loads(data)
        if body.get("format") != FORMAT:
            raise ValueError(f"unknown format {body.get('format')!r}")
        if body["kind"] == "node":
            return Durable(
                _membership_back(body["decided"]),
                _acceptor_back(body["acceptor"]),
                _qs_back(body.get("qs")),
                int(body.get("qs_floor", 0)),
            )
        return QuorumDurable(
            tuple(
                QuorumSlot(
                    str(s["cluster"]),
                    _acceptor_back(s["acceptor"]),
                    _membership_back(s["decided"]),
                    _qs_back(s.get("qs")),
                    str(s.get("lost", "")),
                    int(s.get("floor", 0)),
                    tuple(str(n) for n in s.get("seen", ())),
                )
                for s in body["slots"]
            )
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise CmError(
            f"{path}: unreadable membership state ({exc}); refusing to start, since a "
            "forgotten Paxos promise could let two memberships be decided for one epoch"
        ) from None


def save(path: Path, state: Durable | QuorumDurable) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, dump(state), PRIVATE)
