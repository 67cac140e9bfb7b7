"""Local LAN failover on this node: when a primary interface's link fails, its
addresses (stationary, heartbeat, and the floating IPs of packages that allow it) move
to a standby interface bridged to the same network, and back when the link returns.
cluster/core/lanswitch.py decides; this module reads the kernel and acts.

Woken by the kernel's link and address notifications (rtnetlink), a move follows a
carrier loss within milliseconds; it is checked every NETWORK_POLLING_INTERVAL too.
Address changes run on the event loop thread with no await between reading and
writing, so a floating IP being added or removed by a package, or stop-now, never
interleaves with a move. Where addresses sit is read from the kernel each time, never
remembered, so a restarted cmcld carries on from what it finds.

Which networks a standby serves is measured, as Serviceguard's cmcld does by polling:
ARP probes for peer nodes' addresses on a primary's subnet, sent from the primary and
from the standby, are answered by the same peer interfaces only when the two are
bridged. Until the primary has heard a peer there (peers down, or the primary never
up), what was known stays; a standby never measured may serve any primary (the
cluster file's word).
"""

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cluster.config.model import Config
from cluster.core import events as alert
from cluster.core import lanswitch
from cluster.core.model import InterfaceView
from cluster.network import arp, netlink

log = logging.getLogger("cmcld.lan")

ANNOUNCE_COUNT = 3  # gratuitous ARPs for each moved address, the first at once
ANNOUNCE_INTERVAL = 0.2  # seconds between them
BRIDGE_CHECK_INTERVAL = 30.0  # seconds between measurements of the standbys' networks
PROBE_TARGETS = 2  # peer addresses tried per subnet


@dataclass(frozen=True)
class Layout:
    """This node's interfaces in the applied cluster file."""

    primaries: dict[str, tuple[str, ...]]  # interface -> its addresses, in file order
    standbys: tuple[str, ...]
    peer_addresses: tuple[str, ...]  # every other node's addresses: probe targets

    def owner(self) -> dict[str, str]:
        return {a: p for p, addresses in self.primaries.items() for a in addresses}


def layout_of(config: Config | None, node: str) -> Layout | None:
    """None when this node is not configured or has no standby (nothing to do)."""
    me = config.cluster.node(node) if config is not None else None
    if config is None or me is None:
        return None
    standbys = tuple(i.name for i in me.interfaces if i.standby)
    if not standbys:
        return None
    return Layout(
        primaries={
            i.name: tuple(ip.split("/")[0] for ip in i.ips) for i in me.interfaces if not i.standby
        },
        standbys=standbys,
        peer_addresses=tuple(
            ip.split("/")[0] for n in config.cluster.nodes if n.name != node for ip in n.ips
        ),
    )


@dataclass
class Snapshot:
    """The kernel's view, read once per reconciliation."""

    links: dict[str, netlink.RawLink]
    addresses: list[netlink.RawAddress]

    @classmethod
    def read(cls) -> "Snapshot":
        return cls({link.name: link for link in netlink.dump_links()}, netlink.dump_addresses())

    def up(self) -> dict[str, bool]:
        return {name: link.up for name, link in self.links.items()}

    def on(self, name: str) -> list[netlink.RawAddress]:
        link = self.links.get(name)
        return [a for a in self.addresses if link is not None and a.index == link.index]

    def carrying(self, layout: Layout) -> dict[str, str]:
        owner = layout.owner()
        found: dict[str, str] = {}
        for standby in layout.standbys:
            for a in self.on(standby):
                if a.address in owner:
                    found[standby] = owner[a.address]
        return found


@dataclass
class LanFailover:
    node: str
    config: Callable[[], Config | None]
    # Floating IPs of this node's packages that are up or being added: address ->
    # (package, whether it allows LOCAL_LAN_FAILOVER).
    floating: Callable[[], Mapping[str, tuple[str, bool]]] = dict
    may_run: Callable[[], bool] = lambda: True  # floating IPs move only with the lease
    # A package whose floating IP must stay on a failed interface: it fails here.
    on_stranded: Callable[[str, str], None] = lambda _package, _why: None
    on_event: Callable[[alert.Event], None] = lambda _event: None  # alert scripts
    # standby -> primary -> whether the standby reaches that primary's network (measured)
    bridged: dict[str, dict[str, bool]] = field(default_factory=dict)
    # primary -> the MACs that answered probes for its peers from it, when last up
    answerers: dict[str, set[str]] = field(default_factory=dict)
    _warned: set[tuple[str, str]] = field(default_factory=set)
    _scheduled: bool = False
    _measure_soon: asyncio.Event = field(default_factory=asyncio.Event)
    _standbys_up: frozenset[str] = frozenset()
    _announcers: dict["asyncio.Task[None]", frozenset[str]] = field(default_factory=dict)

    def layout(self) -> Layout | None:
        return layout_of(self.config(), self.node)

    def serves(self, layout: Layout) -> dict[str, frozenset[str]]:
        return {
            s: frozenset(p for p in layout.primaries if self.bridged[s].get(p, True))
            for s in layout.standbys
            if s in self.bridged
        }

    # -- reconciling ------------------------------------------------------------------

    def reconcile(self) -> list[lanswitch.Move]:
        """Read the kernel, move what must move; the moves made. Synchronous on
        purpose (see the module's docstring); a few netlink calls, well under 1 ms."""
        layout = self.layout()
        if layout is None:
            return []
        snap = Snapshot.read()
        up = snap.up()
        standbys_up = frozenset(s for s in layout.standbys if up.get(s))
        if standbys_up - self._standbys_up:
            self._measure_soon.set()  # a standby came up: what does it reach?
        self._standbys_up = standbys_up
        moves = lanswitch.plan(
            list(layout.primaries), layout.standbys, up, snap.carrying(layout), self.serves(layout)
        )
        done = [m for m in moves if self._move(m, layout, snap)]
        if done:
            self._warned.clear()
        return done

    def settle(self) -> None:
        """Bring addresses where they belong now, before a monitor judges a link."""
        try:
            self.reconcile()
        except OSError as exc:
            log.error("local LAN failover: cannot read or change interfaces: %s", exc)
        except Exception:  # the watcher must outlive a bug: say it, carry on
            log.exception("local LAN failover: reconciliation failed")

    def _move(self, move: lanswitch.Move, layout: Layout, snap: Snapshot) -> bool:
        source, target = snap.links.get(move.source), snap.links.get(move.target)
        if source is None or target is None:
            return False
        owner = layout.owner()
        on_source = snap.on(move.source)
        configured = [a for a in on_source if owner.get(a.address) == move.primary]
        if not configured:
            if (move.primary, move.source) not in self._warned:
                self._warned.add((move.primary, move.source))
                log.warning(
                    "local LAN failover: %s, but %s holds none of %s's addresses (%s): "
                    "nothing to move",
                    move.why,
                    move.source,
                    move.primary,
                    ", ".join(layout.primaries[move.primary]) or "none configured",
                )
            return False
        floating = self.floating()
        lease = self.may_run()
        movable: list[tuple[netlink.RawAddress, str]] = []
        stranded: list[tuple[netlink.RawAddress, str]] = []
        for a in on_source:
            if a.address in floating:
                package, allowed = floating[a.address]
                (movable if allowed and lease else stranded).append((a, package))
        group = configured + [a for a, _ in movable]  # stationary first: primary on target
        t0 = time.monotonic()
        added: list[netlink.RawAddress] = []
        try:
            for a in group:
                if a.address in floating and not self.may_run():
                    continue  # the lease ended in the meantime (a frozen cmcld): not again
                try:
                    netlink.add_address(target.index, a.address, a.prefix_len)
                except OSError as exc:
                    if exc.errno != errno.EEXIST:
                        raise
                added.append(a)
        except OSError as exc:
            for a in added:  # all or nothing: the source keeps everything
                with contextlib.suppress(OSError):
                    netlink.delete_address(target.index, a.address, a.prefix_len)
            log.error(
                "local LAN failover: %s, but adding %s to %s failed: %s; addresses stay on %s",
                move.why,
                a.address,
                move.target,
                exc.strerror or exc,
                move.source,
            )
            return False
        for a in reversed(group):  # floating first: deleting a primary address drops them
            with contextlib.suppress(OSError):
                netlink.delete_address(source.index, a.address, a.prefix_len)
        elapsed = (time.monotonic() - t0) * 1e3
        names = [a.address for a in configured] + [f"{a.address} ({p})" for a, p in movable]
        log.warning(
            "local LAN failover: %s; %s moved from %s to %s in %.1f ms",
            move.why,
            ", ".join(names),
            move.source,
            move.target,
            elapsed,
        )
        self._announce(move.target, [a.address for a in group if a.family == socket.AF_INET])
        back = move.target == move.primary
        self.on_event(
            alert.Event(
                alert.Kind.LAN_FAILOVER_RETURNED if back else alert.Kind.LAN_FAILOVER_MOVED,
                node=self.node,
                old=move.source,
                new=move.target,
                reason=f"{move.why}: {', '.join(names)}",
            )
        )
        for a, package in stranded:
            why = (
                "the lease is lost"
                if not lease
                else "the package does not allow LOCAL_LAN_FAILOVER"
            )
            self.on_stranded(package, f"ip {a.address}: {move.why} and {why}; it stays there")
        return True

    def _announce(self, interface: str, addresses: list[str]) -> None:
        """Gratuitous ARPs from the new interface: the first round at once, the rest
        `ANNOUNCE_INTERVAL` apart in the background."""
        if not addresses:
            return
        try:
            sock = arp.ArpSocket(interface)
        except OSError as exc:
            log.error("cannot announce %s on %s: %s", ", ".join(addresses), interface, exc)
            return
        moved = frozenset(addresses)
        for task, announced in list(self._announcers.items()):
            if announced & moved:
                task.cancel()  # from where they were: no longer true
        packets = [sock.announce_packet(a) for a in addresses]
        _send(sock, packets)
        task = asyncio.get_running_loop().create_task(_announce_rest(sock, packets))
        self._announcers[task] = moved
        task.add_done_callback(lambda t: self._announcers.pop(t, None))

    # -- status -----------------------------------------------------------------------

    def status(self) -> list[InterfaceView]:
        layout = self.layout()
        config = self.config()
        me = config.cluster.node(self.node) if config is not None else None
        if me is None:
            return []
        snap = Snapshot.read()
        up = snap.up()
        carrying = snap.carrying(layout) if layout is not None else {}
        at = {p: s for s, p in carrying.items()}
        return [
            InterfaceView(
                i.name,
                i.standby,
                up.get(i.name, False),
                carrying.get(i.name, "") if i.standby else at.get(i.name, ""),
            )
            for i in me.interfaces
        ]

    # -- running ----------------------------------------------------------------------

    async def run(self, interval: Callable[[], float]) -> None:
        """Reconcile on every kernel notification and every `interval()` seconds;
        measure the standbys' networks now and then."""
        loop = asyncio.get_running_loop()
        events = netlink.ChangeEvents()
        loop.add_reader(events.fileno(), self._on_event, events)
        measuring = asyncio.create_task(self._measure_loop(), name="lan-bridges")
        try:
            while True:
                self.settle()
                await asyncio.sleep(interval())
        finally:
            loop.remove_reader(events.fileno())
            events.close()
            measuring.cancel()
            for task in list(self._announcers):
                task.cancel()

    def _on_event(self, events: netlink.ChangeEvents) -> None:
        try:
            events.drain()
        except OSError as exc:
            log.error("local LAN failover: netlink notifications failed: %s", exc)
        if not self._scheduled:  # one reconciliation for a burst of notifications
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_settle)

    def _scheduled_settle(self) -> None:
        self._scheduled = False
        self.settle()

    async def _measure_loop(self) -> None:
        self._measure_soon.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._measure_soon.wait(), BRIDGE_CHECK_INTERVAL)
            self._measure_soon.clear()
            try:
                await self.measure()
            except OSError as exc:
                log.error("local LAN failover: cannot probe the standbys' networks: %s", exc)
            except Exception:
                log.exception("local LAN failover: measuring the standbys' networks failed")

    async def measure(self) -> None:
        """Find which primaries' networks each standby reaches (see the docstring)."""
        layout = self.layout()
        if layout is None:
            return
        snap = Snapshot.read()
        targets = probe_targets(layout, snap)
        if not targets:
            return
        up = snap.up()
        interfaces = [n for n in (*layout.primaries, *layout.standbys) if up.get(n)]
        heard = await asyncio.to_thread(probe_networks, interfaces, targets)
        for primary in targets:
            if primary in heard:  # up: who answers there, seen from the network itself
                self.answerers[primary] = heard[primary][primary]
        for standby in layout.standbys:
            for primary in targets:
                reference = self.answerers.get(primary)
                if standby not in heard or not reference:
                    continue  # not probed, or no peer ever seen there: keep what was known
                answered = bool(heard[standby][primary] & reference)
                before = self.bridged.setdefault(standby, {}).get(primary)
                self.bridged[standby][primary] = answered
                if before != answered:
                    log.info(
                        "standby %s %s the network of %s",
                        standby,
                        "reaches" if answered else "does NOT reach",
                        primary,
                    )


def probe_targets(layout: Layout, snap: Snapshot) -> dict[str, list[str]]:
    """For each primary, peer addresses on its subnets (as the kernel has them here)."""
    owner = layout.owner()
    nets: dict[str, set[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {}
    for a in snap.addresses:
        if a.address in owner:
            net = ipaddress.ip_interface(f"{a.address}/{a.prefix_len}").network
            nets.setdefault(owner[a.address], set()).add(net)
    targets: dict[str, list[str]] = {}
    for primary, networks in nets.items():
        found = [
            peer
            for peer in layout.peer_addresses
            if ":" not in peer and any(ipaddress.ip_address(peer) in n for n in networks)
        ]
        if found:
            targets[primary] = found[:PROBE_TARGETS]
    return targets


def probe_networks(
    interfaces: list[str], targets: dict[str, list[str]]
) -> dict[str, dict[str, set[str]]]:
    """interface -> primary -> the MAC addresses that answered ARP probes sent from the
    interface for peer addresses of the primary's network (blocking: a worker thread).
    A standby reaches that network when it hears a MAC the primary itself hears: a
    peer also answers for its addresses on its other interfaces (ARP flux), and those
    answers alone prove nothing."""
    heard: dict[str, dict[str, set[str]]] = {}
    for interface in interfaces:
        try:
            sock = arp.ArpSocket(interface)
        except OSError as exc:
            log.warning("cannot probe from %s: %s", interface, exc)
            continue
        with sock:
            heard[interface] = {
                primary: set().union(*(arp.holders(sock, peer) for peer in peers))
                for primary, peers in targets.items()
            }
    return heard


def _send(sock: arp.ArpSocket, packets: list[arp.ArpPacket]) -> None:
    for packet in packets:
        with contextlib.suppress(OSError):
            sock.send(packet)


async def _announce_rest(sock: arp.ArpSocket, packets: list[arp.ArpPacket]) -> None:
    try:
        for _ in range(1, ANNOUNCE_COUNT):
            await asyncio.sleep(ANNOUNCE_INTERVAL)
            _send(sock, packets)
    finally:
        # Closing a packet socket waits for an RCU grace period: not on the loop.
        asyncio.get_running_loop().run_in_executor(None, sock.close)
