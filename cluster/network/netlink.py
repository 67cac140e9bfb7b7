"""A minimal rtnetlink client: dump the kernel's links and addresses.

Reading interfaces through netlink needs no subprocess and no third-party library,
and the same socket family later serves the link monitor (RTMGRP_LINK events).
Only what cmcluster uses is decoded; see rtnetlink(7) for the formats.
"""

import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_OPERSTATE = 1, 3, 4, 10, 16
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_FLAGS = 1, 2, 3, 8
IFF_UP, IFF_LOOPBACK, IFF_LOWER_UP = 0x1, 0x8, 0x10000
IFA_F_SECONDARY = 0x01

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")

OPER_STATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


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
