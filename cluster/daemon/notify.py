"""systemd's readiness protocol (sd_notify), without libsystemd."""

import os
import socket


def sd_notify(*states: str) -> bool:
    """Send "READY=1", "STATUS=...", "STOPPING=1" to $NOTIFY_SOCKET.

    Returns False when unset or undeliverable: the service manager going away must
    never take the daemon down with it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall("\n".join(states).encode())
    except OSError:
        return False
    return True
