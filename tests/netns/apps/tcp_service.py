"""A package's service: answers every TCP connection with one line, "<hostname> <pid>",
and closes it. Usage: python3 tcp_service.py PORT (binds 0.0.0.0, so it answers on a
floating address whenever the host has it)."""

import contextlib
import os
import signal
import socket
import sys


def serve(port: int) -> None:
    reply = f"{socket.gethostname()} {os.getpid()}\n".encode()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(128)
        while True:
            connection, _ = listener.accept()
            with connection, contextlib.suppress(OSError):  # the client may give up first
                connection.sendall(reply)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: tcp_service.py PORT", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{socket.gethostname()} {os.getpid()} serving on 0.0.0.0:{argv[0]}", flush=True)
    serve(int(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
