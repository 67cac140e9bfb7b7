"""cmcld: the node daemon. Runs in the foreground (systemd Type=notify) until SIGTERM."""

import argparse
import asyncio
import logging
import os
import signal

from cluster.cli.args import CmArgumentParser
from cluster.daemon.background import Background
from cluster.daemon.config_ops import ConfigService
from cluster.daemon.configstore import ConfigStore
from cluster.daemon.distribute import Distributor
from cluster.daemon.grpclog import capture_core_stderr
from cluster.daemon.logs import LEVELS, parse_level, setup_logging
from cluster.daemon.node import LocalNode
from cluster.daemon.notify import sd_notify
from cluster.daemon.pidlock import PidLock
from cluster.errors import CmError, UsageError
from cluster.names import node_name_problem
from cluster.paths import DEFAULT_PORT, HostPaths, local_node_name
from cluster.security.pem import Credentials, load_credentials
from cluster.transport.peers import PeerDialer
from cluster.transport.server import split_listen, start_node_server
from cluster.transport.stats import TransportStats
from cluster.version import __version__

STOP_GRACE = 2.0
CHANGE_GRACE = 30.0  # a configuration change in progress is finished, not cut
CATCH_UP_INTERVAL = 10.0
EXPIRY_WARNING_DAYS = 30


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = CmArgumentParser(
        prog=prog,
        description="The cmcluster node daemon. Serves the node's gRPC services with "
        "mutual TLS on --listen and to root on this node through a local socket; logs "
        "to $CMCLUSTER_ROOT/var/log/cmcluster/cmcld.log and syslog. Stops on SIGTERM.",
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
    return parser


def main(argv: list[str], prog: str = "cmcld") -> int:
    args = build_parser(prog).parse_args(argv)
    paths = HostPaths.from_env()
    node = local_node_name(args.node)
    problem = node_name_problem(node)
    if problem:
        raise UsageError(f"{problem} (set --node or CMCLUSTER_NODE)")
    split_listen(args.listen)
    os.umask(0o077)
    credentials = _node_credentials(paths, node)
    lock = PidLock(paths.cmcld_pid)
    lock.acquire("cmcld")
    try:
        stats = TransportStats()
        capture_core_stderr(stats)
        log = setup_logging(
            program="cmcld",
            node=node,
            log_file=paths.cmcld_log,
            level=parse_level(args.log_level),
            syslog=not args.no_syslog,
        )
        asyncio.run(
            _serve(
                listen=args.listen,
                paths=paths,
                node=node,
                credentials=credentials,
                stats=stats,
                log=log,
            )
        )
    finally:
        lock.release()
    return 0


def _node_credentials(paths: HostPaths, node: str) -> Credentials:
    """This node's certificate, checked before anything listens."""
    if not paths.node_cert.exists():
        raise CmError(
            f"no node certificate in {paths.tls_dir}: issue one with "
            f"`cmcert issue --node {node}` where the cluster CA lives, copy the bundle "
            "here and run `cmcert install BUNDLE`"
        )
    credentials = load_credentials(paths.node_cert, paths.node_key, paths.ca_cert)
    from cryptography import x509

    from cluster.security.ca import certificate_identity, key_matches, validity_problem
    from cluster.security.identity import IdentityError, Kind

    cert = x509.load_pem_x509_certificate(credentials.certificate)
    try:
        identity = certificate_identity(cert)
    except IdentityError as exc:
        raise CmError(f"{paths.node_cert}: {exc}") from None
    if identity.kind is not Kind.NODE or identity.name != node:
        raise CmError(f"{paths.node_cert} is for {identity}, but this node is {node}")
    if not key_matches(cert, credentials.key):
        raise CmError(f"{paths.node_key} does not belong to {paths.node_cert}")
    problem = validity_problem(cert)
    if problem:
        raise CmError(f"{paths.node_cert}: node certificate {problem}; issue and install a new one")
    return credentials


async def _serve(
    *,
    listen: str,
    paths: HostPaths,
    node: str,
    credentials: Credentials,
    stats: TransportStats,
    log: logging.Logger,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.info("SIGHUP: nothing to reload"))
    host, port = split_listen(listen)
    dialer = PeerDialer(credentials, port or DEFAULT_PORT)
    store = ConfigStore(paths)
    store.load()
    background = Background()
    # No cluster runs until membership exists: every configuration change is offline.
    config = ConfigService(node, store, dialer, background, running=lambda: None)
    backend = LocalNode(node, dialer, stats, store, config)
    server = await start_node_server(
        listen=listen,
        credentials=credentials,
        admin_socket=paths.admin_socket,
        backend=backend,
        stats=stats,
    )
    dialer.port = server.port  # peers listen on the cluster port, as this node does
    _warn_if_expiring(credentials, log)
    log.info(
        "cmcld %s started on node %s: mutual TLS on %s:%d, admin socket %s",
        __version__,
        node,
        host,
        server.port,
        paths.admin_socket,
    )
    sd_notify("READY=1", f"STATUS=serving on {host}:{server.port}", f"MAINPID={os.getpid()}")
    if store.blob is not None:
        log.info(
            "configuration generation %d (%s)", store.generation, store.cluster_name or "deleted"
        )
    catching_up = asyncio.create_task(_catch_up(config.distributor, log))
    await stop.wait()
    sd_notify("STOPPING=1")
    log.info("cmcld stopping on signal")
    catching_up.cancel()
    await background.finish(CHANGE_GRACE)
    await server.stop(STOP_GRACE)
    await dialer.close()
    log.info("cmcld stopped")


async def _catch_up(distributor: Distributor, log: logging.Logger) -> None:
    """Fetch a newer configuration from the peers, at start and then now and then: a
    node that was down or cut off during cmapplyconf ends on the newest generation."""
    while True:
        try:
            await distributor.catch_up()
        except Exception:
            log.exception("configuration catch-up failed")
        await asyncio.sleep(CATCH_UP_INTERVAL)


def _warn_if_expiring(credentials: Credentials, log: logging.Logger) -> None:
    import datetime as dt

    from cryptography import x509

    cert = x509.load_pem_x509_certificate(credentials.certificate)
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    if left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        log.warning("node certificate expires in %d days: issue a new one", left.days)
