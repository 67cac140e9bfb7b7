"""What cmcld and the guard share: a FIFO of fixed-size commands, and files.

cmcld -> guard: 16-byte records on a named pipe, each written with one write(2) (atomic
below PIPE_BUF, so never torn or interleaved). RENEW carries the lease deadline in
CLOCK_MONOTONIC nanoseconds, which is system-wide, so both processes agree on it.
The guard opens the FIFO read-write itself, so it never sees end-of-file when cmcld
dies; it closes the FIFO when it fires, so cmcld's next write fails with EPIPE.

guard -> cmcld: a JSON status file replaced atomically on every state change, and,
after firing, a durable record in the state directory that stays until an operator
clears it (a node that could not halt cleanly must not rejoin).
"""

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.atomicfile import write_atomic
from cluster.paths import HostPaths

RECORD = struct.Struct("<IIq")  # command, reserved, value
RENEW = 1  # value: lease deadline, CLOCK_MONOTONIC ns; arms the guard
MARGIN = 2  # value: STOP_MARGIN ns (stop-now starts at deadline - margin)
PLAN = 3  # value: plan generation; the plan file changed, reload it
DISARM = 4  # no lease any more (clean halt): stand down, do not fire
EXIT = 5  # disarm and exit
NOP = 6  # nothing: a write that fails with EPIPE once the guard has fired
# value: the longest watchdog timeout, ns, with which a frozen host is still reset before
# its lease ends (cluster/core/watchdog.py); the guard sets the device at or below it
WATCHDOG_LIMIT = 7
LEASE = 8  # value: MEMBER_TIMEOUT ns: a deadline rests on heartbeats sent that long before
COMMAND_NAMES = {
    RENEW: "renew",
    MARGIN: "margin",
    PLAN: "plan",
    DISARM: "disarm",
    EXIT: "exit",
    NOP: "nop",
    WATCHDOG_LIMIT: "watchdog limit",
    LEASE: "lease",
}

STARTING, IDLE, ARMED, FIRED, EXITED = "starting", "idle", "armed", "fired", "exited"


@dataclass(frozen=True)
class GuardFiles:
    fifo: Path  # commands from cmcld
    status: Path  # the guard's state, replaced on every change
    plan: Path  # the stop-now plan cmcld keeps up to date
    fired: Path  # durable record of a stop-now the guard performed
    log: Path
    times: Path  # measured stop-now durations per package (cmcld's and the guard's)

    @classmethod
    def from_paths(cls, paths: HostPaths) -> "GuardFiles":
        return cls(
            fifo=paths.run_dir / "guard.fifo",
            status=paths.run_dir / "guard.json",
            plan=paths.state_dir / "stopnow.json",
            fired=paths.state_dir / "stopnow.fired.json",
            log=paths.log_dir / "cmguard.log",
            times=paths.state_dir / "stopnow.times.json",
        )


def encode(command: int, value: int = 0) -> bytes:
    return RECORD.pack(command, 0, value)


def decode(data: bytes) -> tuple[list[tuple[int, int]], bytes]:
    """Whole records in `data` as (command, value), and the incomplete rest."""
    whole = len(data) - len(data) % RECORD.size
    records = [(c, v) for c, _r, v in RECORD.iter_unpack(data[:whole])]
    return records, data[whole:]


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when it is missing or unreadable."""
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: Path, value: dict[str, Any], mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(value, indent=1).encode() + b"\n", mode)
