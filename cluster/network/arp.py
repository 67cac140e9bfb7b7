"""ARP over AF_PACKET: the duplicate-address probe (RFC 5227) and gratuitous ARP.

Done in Python so a host needs no arping: a probe is an ARP request whose sender IP
is 0.0.0.0 (so no neighbour table learns anything from it); any ARP packet from
another host that claims the address, or that probes for it at the same time, is a
conflict. An announcement is a gratuitous ARP request (sender IP = target IP = the
address, broadcast) which makes neighbours that already know the address update
their entry to our MAC at once.
"""

import select
import socket
import struct
import time
from dataclasses import dataclass

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
ARPOP_REQUEST, ARPOP_REPLY = 1, 2
PACKET_OUTGOING = 4
BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
ZERO_IP = b"\x00" * 4
_ARP = struct.Struct("!HHBBH6s4s6s4s")
PAD = b"\x00" * 18  # to the Ethernet minimum payload of 46 bytes


@dataclass(frozen=True)
class ArpPacket:
    op: int
    sender_mac: bytes
    sender_ip: bytes
    target_mac: bytes
    target_ip: bytes

    def pack(self) -> bytes:
        header = (ARPHRD_ETHER, ETH_P_IP, 6, 4, self.op)
        return _ARP.pack(*header, self.sender_mac, self.sender_ip, self.target_mac, self.target_ip)

    @classmethod
    def unpack(cls, data: bytes) -> "ArpPacket | None":
        if len(data) < _ARP.size:
            return None
        hw, proto, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(data)
        if hw != ARPHRD_ETHER or proto != ETH_P_IP or hlen != 6 or plen != 4:
            return None
        return cls(op, sha, spa, tha, tpa)


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


class ArpSocket:
    """A packet socket for ARP on one interface (SOCK_DGRAM: the kernel adds the
    Ethernet header).

    Opened with protocol 0 and given ETH_P_ARP only at bind: a packet socket created
    with a protocol is already hooked to every interface, and binding it re-hooks it,
    which waits for an RCU grace period (8-40 ms measured here). Closing always waits
    for one, so callers that cannot wait close it off the event loop, and one socket
    serves a probe and the announcements after it.
    """

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0)
        try:
            self.sock.bind((interface, ETH_P_ARP))
            self.mac: bytes = self.sock.getsockname()[4][:6]
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "ArpSocket":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, packet: ArpPacket, destination: bytes = BROADCAST) -> None:
        self.sock.sendto(
            packet.pack() + PAD, (self.interface, ETH_P_ARP, 0, ARPHRD_ETHER, destination)
        )

    def receive(self, timeout: float) -> tuple[ArpPacket, bool] | None:
        """One ARP packet and whether it came from elsewhere (not sent by this host);
        None when nothing arrived within `timeout`."""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return None
        data, address = self.sock.recvfrom(2048)
        packet = ArpPacket.unpack(data)
        if packet is None:
            return None
        return packet, address[2] != PACKET_OUTGOING

    def probe_packet(self, address: str) -> ArpPacket:
        return ArpPacket(ARPOP_REQUEST, self.mac, ZERO_IP, ZERO_MAC, socket.inet_aton(address))

    def announce_packet(self, address: str) -> ArpPacket:
        ip = socket.inet_aton(address)
        return ArpPacket(ARPOP_REQUEST, self.mac, ip, ZERO_MAC, ip)


def conflict(packet: ArpPacket, address: bytes, own_mac: bytes) -> bool:
    """Whether a received packet shows another host using or probing `address`."""
    if packet.sender_mac == own_mac:
        return False
    if packet.sender_ip == address:
        return True
    # Another host probing for the same address at the same time (RFC 5227 §2.1.1).
    return (
        packet.op == ARPOP_REQUEST and packet.sender_ip == ZERO_IP and packet.target_ip == address
    )


def probe(
    arp: ArpSocket, address: str, *, count: int = 2, interval: float = 0.05, wait: float = 0.07
) -> str | None:
    """Send `count` probes `interval` apart on `arp`'s interface and listen `wait` more
    after the last (blocking).

    Returns the MAC address of a host that claims `address`, or None when nobody did.
    RFC 5227's 1-2 s spacing is for unmanaged networks; on a cluster LAN an answer
    comes within milliseconds, and a failover cannot wait seconds.
    """
    found = _probe(arp, address, count=count, interval=interval, wait=wait, first=True)
    return found[0] if found else None


def holders(
    arp: ArpSocket, address: str, *, count: int = 2, interval: float = 0.02, wait: float = 0.05
) -> set[str]:
    """Every MAC address that claimed `address` while probing as `probe` does. More than
    one may answer for one host: Linux answers ARP for any of its addresses on every
    interface (arp_ignore=0), so a host's other interfaces may claim it too."""
    return set(_probe(arp, address, count=count, interval=interval, wait=wait, first=False))


def _probe(
    arp: ArpSocket, address: str, *, count: int, interval: float, wait: float, first: bool
) -> list[str]:
    target = socket.inet_aton(address)
    packet = arp.probe_packet(address)
    found: list[str] = []
    for i in range(count):
        arp.send(packet)
        until = time.monotonic() + (interval if i < count - 1 else wait)
        while (left := until - time.monotonic()) > 0:
            got = arp.receive(left)
            if got is None:
                continue
            received, foreign = got
            if foreign and conflict(received, target, arp.mac):
                mac = mac_text(received.sender_mac)
                if mac not in found:
                    found.append(mac)
                if first:
                    return found
    return found
