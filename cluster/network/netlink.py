"""A minimal rtnetlink client: dump links and addresses, add and delete addresses.

Reading interfaces through netlink needs no subprocess and no third-party library,
and the same socket family serves the LAN monitor's wake-ups (`ChangeEvents`: link and
address changes as the kernel announces them).
Adding and deleting floating IPs here (not with `ip`) keeps the stop-now path free of
fork/exec. Only what cmcluster uses is decoded; see rtnetlink(7) for the formats.
"""

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_OPERSTATE = 1, 3, 4, 10, 16
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 3, 4, 8
IFF_UP, IFF_LOOPBACK, IFF_LOWER_UP = 0x1, 0x8, 0x10000
IFA_F_SECONDARY = 0x01
RTMGRP_LINK, RTMGRP_IPV4_IFADDR = 0x1, 0x10

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")

OPER_STATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


ACK_TIMEOUT = 2.0  # seconds; the kernel answers at once, this only bounds a bug


class NetlinkError(OSError):
    pass


@dataclass
class RawLink:
    index: int
    flags: int
    name: str = ""
    mac: str = ""
    mtu: int = 0
    master: int = 0
    oper_state: str = "unknown"

    @property
    def up(self) -> bool:
        """Administratively up and with a carrier: it can carry traffic."""
        return bool(self.flags & IFF_UP and self.flags & IFF_LOWER_UP)


@dataclass
class RawAddress:
    index: int
    family: int
    prefix_len: int
    scope: int
    flags: int
    address: str = ""
    label: str = ""
    extra: dict[int, bytes] = field(default_factory=dict)


def _attributes(data: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            return
        yield kind & 0x3FFF, data[offset + _RTATTR.size : offset + length]
        offset += (length + 3) & ~3


def _dump(message_type: int, payload: bytes) -> Iterator[tuple[int, bytes]]:
    """Send one dump request and yield (type, body) of every reply message."""
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
    ) as s:
        s.bind((0, 0))
        seq = os.getpid() & 0xFFFF
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(payload), message_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
        )
        s.send(header + payload)
        while True:
            chunk = s.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(chunk):
                length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(chunk, offset)
                if length < _NLMSGHDR.size:
                    raise NetlinkError("malformed netlink message")
                body = chunk[offset + _NLMSGHDR.size : offset + length]
                offset += (length + 3) & ~3
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", body)
                    if code:
                        raise NetlinkError(-code, os.strerror(-code))
                    continue
                yield kind, body


class ChangeEvents:
    """A netlink socket subscribed to link and IPv4 address changes, non-blocking.

    Used as a wake-up only: whoever reads it re-reads the state it cares about (a dump),
    so a lost or coalesced message (ENOBUFS when the socket overflowed) costs nothing
    but that re-read.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
        try:
            self.sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self) -> bool:
        """Read every pending message; whether there was any (or an overflow)."""
        seen = False
        while True:
            try:
                if not self.sock.recv(1 << 16):
                    return seen
            except BlockingIOError:
                return seen
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
            seen = True

    def close(self) -> None:
        self.sock.close()


def dump_links() -> list[RawLink]:
    links: list[RawLink] = []
    request = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    for kind, body in _dump(RTM_GETLINK, request):
        if kind != RTM_NEWLINK:
            continue
        _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(body)
        link = RawLink(index=index, flags=flags)
        for attr, value in _attributes(body, _IFINFOMSG.size):
            if attr == IFLA_IFNAME:
                link.name = value.rstrip(b"\0").decode(errors="replace")
            elif attr == IFLA_ADDRESS:
                link.mac = ":".join(f"{b:02x}" for b in value)
            elif attr == IFLA_MTU:
                (link.mtu,) = struct.unpack("=I", value[:4])
            elif attr == IFLA_MASTER:
                (link.master,) = struct.unpack("=I", value[:4])
            elif attr == IFLA_OPERSTATE and value:
                state = value[0]
                link.oper_state = OPER_STATES[state] if state < len(OPER_STATES) else "unknown"
        links.append(link)
    return links


def dump_addresses() -> list[RawAddress]:
    addresses: list[RawAddress] = []
    request = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    for kind, body in _dump(RTM_GETADDR, request):
        if kind != RTM_NEWADDR:
            continue
        family, prefix_len, flags, scope, index = _IFADDRMSG.unpack_from(body)
        addr = RawAddress(
            index=index, family=family, prefix_len=prefix_len, scope=scope, flags=flags
        )
        local = address = ""
        for attr, value in _attributes(body, _IFADDRMSG.size):
            if attr in (IFA_LOCAL, IFA_ADDRESS) and family in (socket.AF_INET, socket.AF_INET6):
                text = socket.inet_ntop(family, value)
                if attr == IFA_LOCAL:
                    local = text
                else:
                    address = text
            elif attr == IFA_LABEL:
                addr.label = value.rstrip(b"\0").decode(errors="replace")
            elif attr == IFA_FLAGS:
                (addr.flags,) = struct.unpack("=I", value[:4])
        # On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours when present.
        addr.address = local or address
        if addr.address:
            addresses.append(addr)
    return addresses


def _attribute(kind: int, value: bytes) -> bytes:
    length = _RTATTR.size + len(value)
    return _RTATTR.pack(length, kind) + value + b"\0" * (((length + 3) & ~3) - length)


def _request(message_type: int, flags: int, payload: bytes) -> None:
    """Send one request and wait for the kernel's acknowledgement; raise its error."""
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
    ) as s:
        s.bind((0, 0))
        s.settimeout(ACK_TIMEOUT)
        seq = int.from_bytes(os.urandom(4), "little")
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(payload), message_type, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0
        )
        s.send(header + payload)
        while True:
            chunk = s.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(chunk):
                length, kind, _flags, reply_seq, _pid = _NLMSGHDR.unpack_from(chunk, offset)
                if length < _NLMSGHDR.size:
                    raise NetlinkError("malformed netlink message")
                body = chunk[offset + _NLMSGHDR.size : offset + length]
                offset += (length + 3) & ~3
                if kind == NLMSG_ERROR and reply_seq == seq:
                    (code,) = struct.unpack_from("=i", body)
                    if code:
                        raise NetlinkError(-code, os.strerror(-code))
                    return


def _address_message(index: int, address: str, prefix_len: int) -> tuple[int, bytes, bytes]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    header = _IFADDRMSG.pack(family, prefix_len, 0, 0, index)
    return family, packed, header


def add_address(
    index: int, address: str, prefix_len: int, *, broadcast: bool = True, label: str = ""
) -> None:
    """Add `address/prefix_len` to interface `index` (EEXIST if it is there already).

    With the prefix of a stationary address on the same interface, the kernel makes it
    a secondary address, which is how floating IPs are told apart from stationary ones.
    """
    family, packed, header = _address_message(index, address, prefix_len)
    attrs = _attribute(IFA_LOCAL, packed) + _attribute(IFA_ADDRESS, packed)
    if family == socket.AF_INET and broadcast and prefix_len < 31:
        host_bits = (1 << (32 - prefix_len)) - 1
        value = int.from_bytes(packed, "big") | host_bits
        attrs += _attribute(IFA_BROADCAST, value.to_bytes(4, "big"))
    if label:
        attrs += _attribute(IFA_LABEL, label.encode() + b"\0")
    _request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, header + attrs)


def delete_address(index: int, address: str, prefix_len: int) -> None:
    """Remove `address/prefix_len` from interface `index` (EADDRNOTAVAIL if absent)."""
    _family, packed, header = _address_message(index, address, prefix_len)
    _request(RTM_DELADDR, 0, header + _attribute(IFA_LOCAL, packed))


def carriers(address: str) -> list[RawAddress]:
    """Every interface entry of `address` on this host (OSError if it is no address)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    text = socket.inet_ntop(family, socket.inet_pton(family, address))
    return [a for a in dump_addresses() if a.family == family and a.address == text]


def interface_name(index: int) -> str:
    """The name of interface `index`, or "#index" once it is gone."""
    try:
        return socket.if_indextoname(index)
    except OSError:
        return f"#{index}"


def delete_everywhere(address: str) -> list[int]:
    """Remove `address` from every interface that carries it, wherever local LAN
    failover may have moved it; the indexes it was removed from."""
    removed = []
    for raw in carriers(address):
        try:
            delete_address(raw.index, raw.address, raw.prefix_len)
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
        else:
            removed.append(raw.index)
    return removed
