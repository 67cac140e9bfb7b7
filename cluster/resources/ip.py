"""Floating IP: probe, add next to the stationary IP of its subnet, announce, remove.

The address goes on the interface that holds a stationary (primary) address of the
same subnet, with that address's prefix, so the kernel marks it secondary. Before
adding, a duplicate-address probe refuses an address another host answers for; after
adding, gratuitous ARPs (the first at once, the rest spaced in the background) move
clients' neighbour entries to this host. Adding and removing use rtnetlink, so the
stop-now path needs no `ip` command.
"""

import asyncio
import contextlib
import errno
import ipaddress
import socket
import time
from dataclasses import dataclass, field

from cluster.network import arp, netlink
from cluster.resources.base import (
    Context,
    Health,
    NotNow,
    Recovery,
    Resource,
    ResourceError,
)
from cluster.resources.stopnow import DeleteAddress, StopNowAction


@dataclass(frozen=True)
class Placement:
    interface: str
    index: int
    prefix_len: int
    present: bool  # the floating address is already on this interface


def find_placement(
    address: str, subnet: str | None, avoid: frozenset[str] = frozenset()
) -> Placement:
    """Where `address` belongs on this host: the interface with a stationary address
    of its subnet (or of `subnet`, when configured: "198.18.0.0/24", or as Serviceguard
    writes IP_SUBNET, "198.18.0.0" with the mask the interface has), whose link is up,
    and none in `avoid`. Raises ResourceError if there is none."""
    ip = ipaddress.IPv4Address(address)
    wanted = ipaddress.ip_network(subnet, strict=False) if subnet else None
    by_address = subnet is not None and "/" not in subnet
    links = {link.index: link for link in netlink.dump_links()}
    addresses = [a for a in netlink.dump_addresses() if a.family == socket.AF_INET]
    present = {a.index for a in addresses if a.address == address}
    avoided = down = ""
    for raw in addresses:
        if raw.flags & netlink.IFA_F_SECONDARY or raw.address == address:
            continue
        net = ipaddress.ip_interface(f"{raw.address}/{raw.prefix_len}").network
        if ip not in net:
            continue
        if wanted is not None and wanted != (
            ipaddress.ip_network(net.network_address) if by_address else net
        ):
            continue
        link = links.get(raw.index)
        if link is None or link.flags & netlink.IFF_LOOPBACK:
            continue
        if link.name in avoid:
            avoided = link.name
            continue
        if not link.up:
            down = link.name
            continue
        return Placement(link.name, raw.index, raw.prefix_len, raw.index in present)
    where = f"subnet {subnet}" if subnet else f"a subnet containing {address}"
    if down:
        raise ResourceError(
            f"{where} is on {down} here, whose link is down (and no standby interface "
            "took it over)",
            Recovery.HARD,
        )
    if avoided:
        raise ResourceError(
            f"{where} is carried by the standby interface {avoided} here (its primary "
            "failed) and the package does not allow LOCAL_LAN_FAILOVER",
            Recovery.HARD,
        )
    raise ResourceError(
        f"no interface of this node has a stationary address in {where}", Recovery.HARD
    )


@dataclass
class FloatingIP(Resource):
    """IP[n]/IP_SUBNET[n] of a package (IPv4)."""

    kind = "ip"
    address: str
    subnet: str | None = None  # "198.18.0.0/24" or "198.18.0.0"; None: any that contains it
    # Two probes, listening 120 ms in all: a host that holds the address answers in
    # the kernel's ARP path within a millisecond or two, even when busy; a manual
    # switch waits this long with the address down everywhere.
    probe_count: int = 2
    probe_interval: float = 0.05  # seconds between probes
    probe_wait: float = 0.07  # seconds to listen after the last probe
    arp_count: int = 3  # gratuitous ARPs sent after adding
    arp_interval: float = 0.2  # seconds between them
    # Standby interfaces of this node, when the package does not allow local LAN
    # failover: the address is never put there.
    avoid: frozenset[str] = frozenset()
    _placement: Placement | None = field(default=None, init=False, repr=False)
    _package: str = field(default="", init=False, repr=False)
    _announcer: "asyncio.Task[None] | None" = field(default=None, init=False, repr=False)
    _sock: arp.ArpSocket | None = field(default=None, init=False, repr=False)
    announced_at: list[float] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            ipaddress.IPv4Address(self.address)
        except ValueError:
            raise ResourceError(
                f"floating IP {self.address!r}: not an IPv4 address", Recovery.FATAL
            ) from None

    @property
    def label(self) -> str:
        return f"ip {self.address}"

    @property
    def active(self) -> bool:
        return self._placement is not None

    async def _start(self, ctx: Context) -> None:
        self._package = ctx.package
        placement = await asyncio.to_thread(self._find)
        sock = self._open(placement)
        try:
            if placement.present:
                ctx.log.info("%s is already on %s", self.address, placement.interface)
                self._set_placement(ctx, placement)
            else:
                sock = await self._probe_and_add(ctx, placement, sock)
            self._announce_first(placement, sock)
        except BaseException:
            _close_later(sock)
            raise
        self._sock = sock
        if self.arp_count > 1:
            self._announcer = asyncio.create_task(self._announce_rest(sock))
        else:
            self._release_socket()

    def _find(self) -> Placement:
        return find_placement(self.address, self.subnet, self.avoid)

    def _open(self, placement: Placement) -> arp.ArpSocket:
        try:
            return arp.ArpSocket(placement.interface)
        except OSError as exc:
            raise ResourceError(
                f"cannot open an ARP socket on {placement.interface} for {self.address}: "
                f"{exc.strerror or exc}"
            ) from None

    async def _probe_and_add(
        self, ctx: Context, placement: Placement, sock: arp.ArpSocket
    ) -> arp.ArpSocket:
        """Probe, then add where the subnet is now; the socket to announce with."""
        holder = await asyncio.to_thread(
            arp.probe,
            sock,
            self.address,
            count=self.probe_count,
            interval=self.probe_interval,
            wait=self.probe_wait,
        )
        if holder is not None:
            raise NotNow(
                f"{self.address} is already in use on the network: {holder} answered "
                f"the duplicate-address probe on {placement.interface}; not adding it"
            )
        # Looked up again with no await before the add: local LAN failover (on this
        # loop) may have moved the subnet to another interface during the probe.
        now = self._find()
        if now.index != placement.index:
            ctx.log.info(
                "%s: subnet moved from %s to %s during the probe",
                self.address,
                placement.interface,
                now.interface,
            )
            _close_later(sock)
            sock = self._open(now)
            placement = now
        self._set_placement(ctx, placement)  # stop-now deletes it from here on
        if not ctx.may_run():
            # The probe took a while: the lease may have gone meanwhile. Checked after
            # the guard was told and with no await before the add.
            self._set_placement(ctx, None)
            raise NotNow(
                f"not adding {self.address}: this node no longer holds its lease (or its "
                "lease guard stopped listening)"
            )
        try:
            netlink.add_address(placement.index, self.address, placement.prefix_len)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                self._set_placement(ctx, None)
                raise ResourceError(
                    f"cannot add {self.address}/{placement.prefix_len} to "
                    f"{placement.interface}: {exc.strerror or exc}"
                ) from None
        ctx.log.info("added %s/%d to %s", self.address, placement.prefix_len, placement.interface)
        return sock

    def _set_placement(self, ctx: Context, placement: Placement | None) -> None:
        self._placement = placement
        ctx.on_change()

    def _announce_first(self, placement: Placement, sock: arp.ArpSocket) -> None:
        self.announced_at = []
        try:
            sock.send(sock.announce_packet(self.address))
        except OSError as exc:
            raise ResourceError(
                f"cannot send gratuitous ARP for {self.address} on {placement.interface}: "
                f"{exc.strerror or exc}"
            ) from None
        self.announced_at.append(time.monotonic())

    async def _announce_rest(self, sock: arp.ArpSocket) -> None:
        """The remaining gratuitous ARPs, `arp_interval` apart counted from the first;
        the socket is closed afterwards (or on cancellation) off the event loop."""
        first = self.announced_at[0]
        try:
            packet = sock.announce_packet(self.address)
            for i in range(1, self.arp_count):
                await asyncio.sleep(max(0.0, first + i * self.arp_interval - time.monotonic()))
                with contextlib.suppress(OSError):
                    sock.send(packet)
                    self.announced_at.append(time.monotonic())
        finally:
            self._release_socket()

    def _release_socket(self) -> None:
        if self._sock is not None:
            _close_later(self._sock)
            self._sock = None

    async def _stop(self, ctx: Context) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._announcer
            self._announcer = None
        self._release_socket()  # when the announcer was cancelled before it ran
        try:
            removed = netlink.delete_everywhere(self.address)
        except OSError as exc:
            raise ResourceError(f"cannot remove {self.address}: {exc.strerror or exc}") from None
        if removed:
            names = ", ".join(netlink.interface_name(i) for i in removed)
            ctx.log.info("removed %s from %s", self.address, names)
        else:
            ctx.log.info("%s was on no interface", self.address)
        self._set_placement(ctx, None)

    async def monitor(self, ctx: Context) -> Health:
        if self._placement is None:
            return Health.failed(f"{self.address} is not started")
        links = {link.index: link for link in await asyncio.to_thread(netlink.dump_links)}
        found = await asyncio.to_thread(netlink.carriers, self.address)
        if not found:
            return Health.failed(
                f"{self.address} is no longer on {self._placement.interface} nor elsewhere"
            )
        link = links.get(found[0].index)
        if link is None:
            return Health.failed(f"interface of {self.address} is gone")
        if link.index != self._placement.index:
            # Moved by local LAN failover: it is followed, not lost.
            self._placement = Placement(link.name, link.index, found[0].prefix_len, True)
            ctx.on_change()
        if link.name in self.avoid:
            return Health.failed(
                f"{self.address} is on the standby interface {link.name}, and the package "
                "does not allow LOCAL_LAN_FAILOVER"
            )
        if not link.up:
            return Health.failed(f"{self.address}: link {link.name} is down")
        return Health.healthy()

    def stop_now_actions(self) -> list[StopNowAction]:
        if self._placement is None:
            return []
        return [
            DeleteAddress(
                self._package,
                self.label,
                self._placement.interface,
                self.address,
                self._placement.prefix_len,
            )
        ]


def _close_later(sock: arp.ArpSocket) -> None:
    """Close a packet socket in a worker thread: the close waits for an RCU grace
    period (tens of ms), which the event loop (leases, heartbeats) must not."""
    asyncio.get_running_loop().run_in_executor(None, sock.close)
