"""Print every ARP packet seen on an interface, as JSON lines with CLOCK_MONOTONIC
times (system-wide, so comparable with the sender's). Run on a lab host:

    python -m tests.netns.resources.arpwatch eth0 SECONDS
"""

import json
import sys
import time

from cluster.network import arp


def main() -> int:
    interface, seconds = sys.argv[1], float(sys.argv[2])
    with arp.ArpSocket(interface) as sock:
        print("READY", flush=True)
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            got = sock.receive(left)
            if got is None:
                continue
            packet, foreign = got
            record = {
                "t": time.monotonic(),
                "op": packet.op,
                "sender_mac": arp.mac_text(packet.sender_mac),
                "sender_ip": ".".join(map(str, packet.sender_ip)),
                "target_ip": ".".join(map(str, packet.target_ip)),
                "foreign": foreign,
            }
            print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
