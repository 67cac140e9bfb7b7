"""gRPC core's own log lines, read from stderr, into our log and counters.

A refused TLS handshake (no client certificate, a foreign CA, an expired certificate,
a plaintext client) reaches the client as a bare UNAVAILABLE, like a dead peer; only
gRPC core on the server side knows the reason, and it prints it to stderr. cmcld
therefore points file descriptor 2 at a pipe, keeps Python's own stderr on the
original descriptor, and turns every "Handshake failed" line into a counted warning.
"""

import logging
import os
import re
import sys
import threading

from cluster.transport.stats import TLS_HANDSHAKES_REFUSED, TransportStats

log = logging.getLogger("cmcld.grpc")

_HANDSHAKE = re.compile(r"Handshake failed with (?:fatal )?error (\S+): (.*)")
_REASONS = (
    ("WRONG_VERSION_NUMBER", "not TLS (a plaintext client?)"),
    ("HTTP_REQUEST", "not TLS (a plaintext client?)"),
    ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "the client sent no certificate"),
    ("certificate has expired", "the client's certificate has expired"),
    (
        "unable to get local issuer certificate",
        "the client's certificate is not from this cluster's CA",
    ),
    ("certificate is not yet valid", "the client's certificate is not yet valid"),
    ("ALERT_UNKNOWN_CA", "the client does not trust this node's certificate (another cluster?)"),
    ("ALERT_BAD_CERTIFICATE", "the client does not accept this node's certificate"),
)


def describe_handshake_failure(line: str) -> str | None:
    """The reason of a refused handshake in plain words, or None for other lines."""
    match = _HANDSHAKE.search(line)
    if match is None:
        return None
    detail = match.group(2).strip()
    for marker, words in _REASONS:
        if marker in detail:
            return f"{words} [{detail}]"
    return detail


def capture_core_stderr(stats: TransportStats) -> None:
    """Route fd 2 through a reader thread; call before any logging handler is made."""
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.set_inheritable(read_end, False)
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(original, "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    thread = threading.Thread(
        target=_pump, args=(read_end, stats), name="grpc-core-log", daemon=True
    )
    thread.start()


def _pump(fd: int, stats: TransportStats) -> None:
    with open(fd, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            reason = describe_handshake_failure(line)
            if reason is not None:
                count = stats.add(TLS_HANDSHAKES_REFUSED)
                log.warning("TLS handshake refused (%d since start): %s", count, reason)
            elif line[:1] == "E":
                log.error("grpc: %s", line.rstrip())
            elif line.strip():
                log.debug("grpc: %s", line.rstrip())
