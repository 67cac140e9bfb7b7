"""A client's view of a floating address: starts a connection to IP:PORT every INTERVAL
(default 10 ms), each with a TIMEOUT (default 100 ms), whether or not earlier ones have
finished, reads the service's "<hostname> <pid>" line, and prints {"first": "<host>
<pid>"} (one JSON line) at its first answer, so a caller knows it is probing, and a JSON
summary line when DURATION ends or on SIGTERM/SIGINT. Attempts are counted in the order
they started, each at the time it finished: one that meets a vanished address and
waits out its timeout does not hide the answers of the attempts started after it, so
an outage is measured to about INTERVAL (a strictly sequential prober would read it up
to TIMEOUT long).

  answered, failed       attempts that got an answer / did not
  servers                "<host> <pid>" in the order they answered (each change once)
  hosts                  the same, hosts only
  outages                each stretch without answers between two answers: start (wall
                         clock of the last answer before), end (of the first answer after),
                         seconds (end - start, monotonic), before/after ("<host> <pid>")
  first_answer           wall clock of the first answer (null if none)
  waiting_since          wall clock of the last answer when the run ended without
                         answers since (an outage that had not ended), else null

Usage: python3 probe.py IP:PORT [--duration S] [--interval S] [--timeout S]
"""

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Probe:
    servers: list[str] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)
    answered: int = 0
    failed: int = 0
    first_answer: float | None = None
    last: tuple[float, float, str] | None = None  # wall, monotonic, server
    failed_since_last: bool = False

    def record(self, server: str | None, wall: float, mono: float) -> None:
        if server is None:
            self.failed += 1
            self.failed_since_last = True
            return
        self.answered += 1
        if self.first_answer is None:
            self.first_answer = wall
        if self.last is not None and self.failed_since_last:
            self.outages.append(
                {
                    "start": self.last[0],
                    "end": wall,
                    "seconds": round(mono - self.last[1], 4),
                    "before": self.last[2],
                    "after": server,
                }
            )
        if not self.servers or self.servers[-1] != server:
            self.servers.append(server)
        self.last = (wall, mono, server)
        self.failed_since_last = False

    def summary(self) -> dict[str, Any]:
        hosts: list[str] = []
        for server in self.servers:
            host = server.split(" ")[0]
            if not hosts or hosts[-1] != host:
                hosts.append(host)
        waiting = self.last[0] if self.last and self.failed_since_last else None
        return {
            "answered": self.answered,
            "failed": self.failed,
            "servers": self.servers,
            "hosts": hosts,
            "outages": self.outages,
            "first_answer": self.first_answer,
            "waiting_since": waiting,
        }


async def ask(host: str, port: int, timeout: float) -> str | None:
    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            return await reader.readline()
        finally:
            writer.close()

    try:
        data = await asyncio.wait_for(exchange(), timeout)
    except (OSError, TimeoutError):
        return None
    text = data.decode(errors="replace").strip()
    return text if len(text.split(" ")) == 2 else None


async def run(probe: Probe, host: str, port: int, args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    started: deque[asyncio.Task[tuple[str | None, float, float]]] = deque()

    async def attempt() -> tuple[str | None, float, float]:
        server = await ask(host, port, args.timeout)
        return server, time.time(), time.monotonic()

    def settle() -> None:
        """Record the finished attempts at the head of the start order."""
        while started and started[0].done():
            server, wall, mono = started.popleft().result()
            probe.record(server, wall, mono)
            if server is not None and probe.answered == 1:
                print(json.dumps({"first": server}), flush=True)

    end = loop.time() + args.duration
    due = loop.time()
    while loop.time() < end and not stop.is_set():
        started.append(asyncio.create_task(attempt()))
        due += args.interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, due - loop.time()))
        settle()
    if started:
        await asyncio.wait(list(started))
    settle()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="IP:PORT")
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=0.1)
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    probe = Probe()
    asyncio.run(run(probe, host, int(port), args))
    print(json.dumps(probe.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
