"""A package's writer: appends "<hostname> <seq>" to FILE every INTERVAL (default
20 ms), fsync after each line; seq counts 0, 1, 2, ... in each run (each process).

Usage: python3 writer.py FILE [INTERVAL_SECONDS]

`problems(text)` checks such a file for two writers at once. The rule: the file is a
sequence of runs; a run starts with a line of seq 0 and continues with its host's
seq 1, 2, ... each directly after the previous one. So every line of seq n > 0 must
directly follow the line of seq n - 1 of the same host. Once a new run began (host Y,
seq 0), a line of an earlier run (host X, seq n > 0) can only appear if X's run was
still writing, which is exactly what must never happen: it breaks the rule, whether
X == Y or not. A line that is not "<host> <seq>" is reported too (a torn line could
only come from a writer dying inside a write(2) of a few bytes, which SIGKILL cannot
do), except for an unterminated very last line of the file.
"""

import os
import signal
import socket
import sys
import time


def write(path: str, interval: float) -> None:
    host = socket.gethostname()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    seq = 0
    next_at = time.monotonic()
    while True:
        os.write(fd, f"{host} {seq}\n".encode())
        os.fsync(fd)
        seq += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


def problems(text: str) -> list[str]:
    """What in a writer file shows two writers at once (empty when nothing does)."""
    found: list[str] = []
    previous: tuple[str, int] | None = None
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]  # tail: "" or a torn last line
    for number, line in enumerate(complete, 1):
        fields = line.split(" ")
        if len(fields) != 2 or not fields[1].isdigit():
            found.append(f"line {number}: not '<host> <seq>': {line!r}")
            previous = None
            continue
        host, seq = fields[0], int(fields[1])
        if seq > 0 and previous != (host, seq - 1):
            after = f"{previous[0]} {previous[1]}" if previous else "nothing"
            found.append(f"line {number}: {host} {seq} follows {after}")
        previous = (host, seq)
    if tail and len(tail.split(" ")) > 2:
        found.append(f"last line: {tail!r}")
    return found


def runs(text: str) -> list[tuple[str, int]]:
    """(host, lines) of each run, in order."""
    result: list[tuple[str, int]] = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) == 2 and fields[1] == "0":
            result.append((fields[0], 1))
        elif result and len(fields) == 2 and fields[0] == result[-1][0]:
            result[-1] = (result[-1][0], result[-1][1] + 1)
    return result


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: writer.py FILE [INTERVAL_SECONDS]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    write(argv[0], float(argv[1]) if len(argv) == 2 else 0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
