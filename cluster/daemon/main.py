"""cmcld: the node daemon. Runs in the foreground (systemd Type=notify) until SIGTERM."""

import argparse
import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

from cluster.cli.args import CmArgumentParser
from cluster.core import events as alert
from cluster.core.effects import HaltNode
from cluster.daemon.alerts import Alerts
from cluster.daemon.authority import NodeAuthority
from cluster.daemon.background import Background, report_end
from cluster.daemon.cluster_ops import ClusterCommands
from cluster.daemon.config_ops import ConfigService
from cluster.daemon.configstore import ConfigStore
from cluster.daemon.coordinator import Coordinator
from cluster.daemon.distribute import Distributor
from cluster.daemon.lan import LanFailover
from cluster.daemon.leaseguard import GuardLink, open_guard, watchdog_warnings
from cluster.daemon.logs import LEVELS, parse_level
from cluster.daemon.membership import MembershipDriver
from cluster.daemon.node import LocalNode
from cluster.daemon.notify import sd_notify
from cluster.daemon.owncert import OwnCertificate, certificate_warnings
from cluster.daemon.package_ops import PackageOps, current_epoch
from cluster.daemon.package_watch import PackageWatch
from cluster.daemon.packages import LocalPackages
from cluster.daemon.peertrust import node_trust, recheck_heartbeats
from cluster.daemon.startup import daemon_process, own_credentials, stop_event, watch_expiry
from cluster.errors import CmError, UsageError
from cluster.names import node_name_problem
from cluster.paths import DEFAULT_PORT, HostPaths, local_node_name
from cluster.resources import stoptimes
from cluster.security.identity import Kind
from cluster.security.pem import Credentials
from cluster.transport.localsocket import admin_group_id
from cluster.transport.peers import PeerDialer
from cluster.transport.server import split_listen, start_node_server
from cluster.transport.stats import TransportStats
from cluster.version import __version__

STOP_GRACE = 2.0
CHANGE_GRACE = 30.0  # a configuration change in progress is finished, not cut
CATCH_UP_INTERVAL = 10.0
LEAVE_TIMEOUT = 60.0


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = CmArgumentParser(
        prog=prog,
        description="The cmcluster node daemon. Serves the node's gRPC services with "
        "mutual TLS on --listen and to root on this node through a local socket; logs "
        "to $CMCLUSTER_ROOT/var/log/cmcluster/cmcld.log and syslog. Stops on SIGTERM; "
        "on SIGHUP uses the certificate in tls/ again (cmcert install --force sends it: "
        "rotation without a restart); on SIGUSR1 logs where each of its tasks waits. "
        "Packages run here only under its lease guard (cmguard): before it may join, cmcld "
        "stops whatever a previous cmcld left running (the guard's plan, "
        "var/lib/cmcluster/stopnow.json); while no guard runs (it cannot start, or a "
        "stop-now was not clean) the node may be a member but starts no package, and "
        "cmviewcl -v says why. An unclean stop-now is recorded in "
        "var/lib/cmcluster/stopnow.fired.json: check the host (processes, addresses, "
        "mounts, volume groups of the packages), then remove that file; cmcld starts a "
        "new guard within 5 s while a member, or at its next start.",
    )
    parser.add_argument(
        "--listen",
        default=f"0.0.0.0:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help=f"address for peers and remote commands (default 0.0.0.0:{DEFAULT_PORT}; "
        "port 0 picks a free port, reported through sd_notify STATUS and the log)",
    )
    parser.add_argument("--node", help="node name (default: $CMCLUSTER_NODE or the host name)")
    parser.add_argument(
        "--log-level", default="info", choices=list(LEVELS), help="initial log level (default info)"
    )
    parser.add_argument("--no-syslog", action="store_true", help="log to the file only")
    parser.add_argument(
        "--admin-group",
        metavar="GROUP",
        help="a Unix group whose members may also use the admin socket (default: root "
        "only); they get what the access-control policies (USER_NAME, USER_HOST this "
        "node or CLUSTER_MEMBER_NODE, USER_ROLE) grant their user name, monitor without any",
    )
    parser.add_argument(
        "--auto-start",
        action="store_true",
        help="join the cluster at start (AUTO_START): join a running cluster, or wait "
        "AUTO_START_TIMEOUT for every configured node and form it with them",
    )
    return parser


def main(argv: list[str], prog: str = "cmcld") -> int:
    args = build_parser(prog).parse_args(argv)
    paths = HostPaths.from_env()
    node = local_node_name(args.node)
    problem = node_name_problem(node)
    if problem:
        raise UsageError(f"{problem} (set --node or CMCLUSTER_NODE)")
    split_listen(args.listen)
    admin_gid = admin_group_id(args.admin_group) if args.admin_group else None
    credentials = own_credentials(paths, node, Kind.NODE)
    with daemon_process(
        program="cmcld",
        name=node,
        pid_file=paths.cmcld_pid,
        log_file=paths.cmcld_log,
        level=parse_level(args.log_level),
        syslog=not args.no_syslog,
    ) as process:
        asyncio.run(
            _serve(
                listen=args.listen,
                paths=paths,
                node=node,
                credentials=credentials,
                stats=process.stats,
                log=process.log,
                auto_start=args.auto_start,
                admin_gid=admin_gid,
            )
        )
    return 0


async def _serve(
    *,
    listen: str,
    paths: HostPaths,
    node: str,
    credentials: Credentials,
    stats: TransportStats,
    log: logging.Logger,
    auto_start: bool,
    admin_gid: int | None,
) -> None:
    own = OwnCertificate(paths, node, Kind.NODE, credentials)
    stop = stop_event(log, reload=lambda: own.reload(log))
    host, port = split_listen(listen)
    dialer = PeerDialer(credentials, port or DEFAULT_PORT)
    store = ConfigStore(paths)
    store.load()
    trust = node_trust(credentials, store)
    background = Background()
    catch_up = CatchUp(log)
    # Before anything may join: what a previous cmcld left is stopped (leaseguard.py).
    guard = await asyncio.to_thread(open_guard, paths, node, lambda: _watchdog_device(store))
    try:
        membership = MembershipDriver(
            node=node,
            paths=paths,
            store=store,
            credentials=credentials,
            stats=stats,
            port=port or DEFAULT_PORT,
            auto_start=auto_start,
            on_newer_config=catch_up.soon,
            guard=guard,
        )
        membership.load_durable()  # an unreadable Paxos state stops cmcld here, before serving
        own.listeners += [dialer.renew, membership.renew]
        recheck_heartbeats(membership.links, store, trust)
        packages, coordinator, package_ops, alerts = _packages(
            node=node, paths=paths, store=store, membership=membership, guard=guard, dialer=dialer
        )
        lan = _lan(node, store, packages, alerts)
        config = ConfigService(
            node,
            store,
            peers=dialer,
            background=background,
            running=membership.cluster_running,
            cluster_running=package_ops.cluster_running,
            trust=trust,
        )
        catch_up.distributor = config.distributor
        store.listeners.append(membership.reconfigure)
        # The configured watchdog, also for a reattached guard.
        store.listeners.append(lambda: guard.refit(_watchdog_device(store)))
        guard.refit(_watchdog_device(store))
        commands = ClusterCommands(membership, dialer)
        backend = LocalNode(
            name=node,
            dialer=dialer,
            stats=stats,
            store=store,
            config=config,
            membership=membership,
            commands=commands,
            background=background,
            packages=package_ops,
            lan=lan,
            warnings=_warnings(certificate_warnings(own, trust), paths, node, membership),
        )
        server = await start_node_server(
            listen=listen,
            credentials=lambda: own.current,
            admin_socket=paths.admin_socket,
            backend=backend,
            links=membership.links,
            stats=stats,
            authority=NodeAuthority(node, store, membership.decided),
            certificates=trust,
            admin_gid=admin_gid,
        )
    except BaseException:
        await _retire_unused(guard, log)  # cmcld never served: it ran nothing
        raise
    # Peers listen on the cluster port, as this node does.
    dialer.port = membership.links.port = server.port
    _started(log, node=node, host=host, port=server.port, paths=paths, store=store)
    running, catching_up, *watchers = _tasks(
        ("membership", membership.run()),
        ("catch-up", catch_up.every(CATCH_UP_INTERVAL)),
        *PackageWatch(packages).tasks(),
        ("local-lan-failover", lan.run(packages.poll_interval)),
        ("certificate-expiry", watch_expiry(certificate_warnings(own, trust), log, alerts.emit)),
        ("alerts", alerts.run()),
    )
    sd_notify("READY=1", f"STATUS=serving on {host}:{server.port}", f"MAINPID={os.getpid()}")
    await stop.wait()
    sd_notify("STOPPING=1")
    log.info("cmcld stopping on signal")
    await _leave(membership, commands, package_ops, log)
    if packages.active():  # not a member (or leaving failed): halt what still runs here
        await packages.halt_all_here()
    if packages.active():
        # Held still: stopped now, and an unclean stop recorded; the guard then stays
        # armed and fires at the lease deadline with what is held (GuardLink.close).
        log.error("cmcld stopping: %s still held here", ", ".join(packages.active()))
        packages.stop_now("cmcld stopping")
    coordinator.close()
    for task in (catching_up, *watchers):
        task.cancel()
    await asyncio.gather(background.finish(CHANGE_GRACE), alerts.close())
    await membership.close()
    running.cancel()
    await server.stop(STOP_GRACE)
    await dialer.close()
    await asyncio.to_thread(guard.close)
    log.info("cmcld stopped")


def _started(
    log: logging.Logger, *, node: str, host: str, port: int, paths: HostPaths, store: ConfigStore
) -> None:
    log.info(
        "cmcld %s started on node %s: mutual TLS on %s:%d, admin socket %s",
        __version__,
        node,
        host,
        port,
        paths.admin_socket,
    )
    if store.blob is not None:
        log.info(
            "configuration generation %d (%s)", store.generation, store.cluster_name or "deleted"
        )


async def _retire_unused(guard: GuardLink, log: logging.Logger) -> None:
    """A cmcld that fails before it serves (its port taken, its state unreadable)
    retires the guard it started: nothing ran under it. A guard it reattached to is
    left alone (it may be armed by the previous cmcld's lease)."""
    if guard.started_here:
        await asyncio.to_thread(guard.close)
        log.info("lease guard retired: cmcld did not start")


def _warnings(
    certificates: Callable[[], list[str]],
    paths: HostPaths,
    node: str,
    membership: MembershipDriver,
) -> Callable[[], list[str]]:
    """What cmviewcl -v warns of on this node: certificates ending soon, packages whose
    measured stop-now here overran STOP_MARGIN or was not clean, and a watchdog that
    would not reset this host frozen before its lease ends."""

    def warnings() -> list[str]:
        margin = membership.timing.stop_margin if membership.timing else 0
        times = stoptimes.load_times(stoptimes.times_path(paths))
        overruns = stoptimes.overruns(times, margin, node)
        return certificates() + overruns + watchdog_warnings(paths, node)

    return warnings


def _tasks(*work: tuple[str, Coroutine[Any, Any, None]]) -> list[asyncio.Task[None]]:
    """The daemon's long-running tasks, named; one that ends (none should) is reported."""
    tasks = [asyncio.create_task(coroutine, name=name) for name, coroutine in work]
    for task in tasks:
        task.add_done_callback(report_end)
    return tasks


def _packages(
    *,
    node: str,
    paths: HostPaths,
    store: ConfigStore,
    membership: MembershipDriver,
    guard: GuardLink,
    dialer: PeerDialer,
) -> tuple[LocalPackages, Coordinator, PackageOps, Alerts]:
    """This node's packages and the coordinator's placement, following the membership,
    and the alert scripts their events run."""
    alerts = Alerts(node, lambda: store.config)
    packages = LocalPackages(
        node=node,
        paths=paths,
        store=store,
        epoch=lambda: current_epoch(membership),
        # No guard, no package (leaseguard.py): the node reports why it runs none.
        may_run=lambda: membership.holds_lease() and guard.listening(),
        plan_sink=guard,
        blocked=guard.problem,
        on_unclean_stop=guard.stopped_unclean,  # recorded; the guard keeps what is held
    )
    guard.on_change = packages.changed
    packages.events.emit = alerts.emit
    packages.reconfigure()
    store.listeners.append(packages.reconfigure)
    coordinator = Coordinator(
        node=node,
        config=lambda: store.config,
        generation=lambda: store.generation,
        packages=packages,
        dialer=dialer,
    )
    package_ops = PackageOps(
        node=node,
        membership=membership,
        packages=packages,
        coordinator=coordinator,
        dialer=dialer,
    )
    coordinator.on_event = alerts.emit
    membership.on_event = membership.quorum.on_event = alerts.emit
    store.listeners.append(coordinator.poke)
    store.listeners.append(lambda: _applied(node, store, membership, alerts))
    membership.on_decided.append(lambda m: coordinator.on_decided(m, membership.previous))
    membership.on_decided.append(lambda _: package_ops.push_soon())
    membership.on_takeover = coordinator.on_takeover
    membership.on_lease_lost = packages.stop_now
    membership.running_packages = package_ops.running_packages
    return packages, coordinator, package_ops, alerts


def _applied(node: str, store: ConfigStore, membership: MembershipDriver, alerts: Alerts) -> None:
    """A configuration applied: a cluster event, raised by the coordinator."""
    decided = membership.decided()
    if decided.coordinator == node and store.config is not None:
        alerts.emit(
            alert.Event(
                alert.Kind.CONFIGURATION_APPLIED,
                node=node,
                epoch=decided.epoch,
                new=str(store.generation),
                reason=f"configuration generation {store.generation} applied",
            )
        )


def _lan(node: str, store: ConfigStore, packages: LocalPackages, alerts: Alerts) -> LanFailover:
    """Local LAN failover, told which floating IPs may follow their interface."""
    lan = LanFailover(
        node,
        config=lambda: store.config,
        floating=packages.floating_addresses,
        may_run=packages.may_run,
        on_stranded=packages.address_stranded,
        on_event=alerts.emit,
    )
    packages.settle = lan.settle
    store.listeners.append(lan.settle)  # a new layout: measure its standbys soon
    return lan


async def _leave(
    membership: MembershipDriver,
    commands: ClusterCommands,
    package_ops: PackageOps,
    log: logging.Logger,
) -> None:
    """Stopping cmcld on a member is a cmhaltnode: leave through a decided epoch first,
    so the others need not wait MEMBER_TIMEOUT to notice. Not while packages still hold
    something here (halt_here fails): the node does not leave the membership with
    resources its lease no longer covers."""
    core = membership.core
    if core is None or not core.active:
        return
    try:
        async with asyncio.timeout(LEAVE_TIMEOUT):
            async for line in package_ops.halt_here():
                log.info("leaving: %s", line)
            async for line in commands.run(HaltNode(), "cmcld stopping"):
                log.info("leaving: %s", line)
    except (CmError, TimeoutError) as exc:
        log.warning("could not leave the cluster cleanly: %s", exc or "timed out")


def _watchdog_device(store: ConfigStore) -> str | None:
    config = store.config
    return config.cluster.watchdog_device if config else None


class CatchUp:
    """Configuration catch-up: now and then, and at once when a peer shows a newer one."""

    def __init__(self, log: logging.Logger) -> None:
        self.distributor: Distributor | None = None
        self._log = log
        self._task: asyncio.Task[None] | None = None

    def soon(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._once())

    async def _once(self) -> None:
        if self.distributor is None:
            return
        try:
            await self.distributor.catch_up()
        except Exception:
            self._log.exception("configuration catch-up failed")

    async def every(self, interval: float) -> None:
        while True:
            await self._once()
            await asyncio.sleep(interval)
