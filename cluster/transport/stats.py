"""Counters of transport trouble, so an operator can tell a refused handshake from a
dead peer (both look the same, UNAVAILABLE, to the other end)."""

import threading
from collections import Counter


class TransportStats:
    """Thread-safe: gRPC core's log reader runs in its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> int:
        with self._lock:
            self._counts[name] += amount
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


TLS_HANDSHAKES_REFUSED = "tls_handshakes_refused"
CALLS_REFUSED = "calls_refused"
CALLS_FAILED = "calls_failed"  # a servicer raised something other than an operator error
