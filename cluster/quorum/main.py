"""cmqsd: the quorum server. Runs in the foreground (systemd Type=notify) until SIGTERM.

An extra Paxos acceptor that breaks ties for clusters whose membership is even, and
answers their nodes' pings only while exactly half of a membership answers them. One
cmqsd may serve several clusters; each cluster name is bound to the CA of its nodes.
Its certificate comes from `cmcert issue --quorum-server NAME`; it trusts the CAs in
tls/ca.crt (append the other clusters' ca.crt to serve them too) and refuses the
certificates their CRLs in tls/ca.crl revoke. SIGHUP reads tls/ again: its own
certificate (after `cmcert install --force`) and the CRLs.

A quorum server that finds it lost what it voted for a cluster (its state file deleted
or restored from an old copy: the nodes tell it the newest state they saw) refuses to
vote for that cluster until `cmqsd --reset-cluster NAME`, run while cmqsd is stopped.
"""

import argparse
import asyncio

from cluster.cli.args import CmArgumentParser
from cluster.daemon.logs import LEVELS, parse_level
from cluster.daemon.notify import sd_notify
from cluster.daemon.owncert import OwnCertificate
from cluster.daemon.peertrust import quorum_server_trust
from cluster.daemon.pidlock import PidLock
from cluster.daemon.startup import (
    daemon_process,
    expiry_warnings,
    own_credentials,
    stop_event,
    watch_expiry,
)
from cluster.errors import CmError, UsageError
from cluster.names import cluster_name_problem, node_name_problem
from cluster.paths import HostPaths, local_node_name
from cluster.quorum.service import QuorumService
from cluster.security.crl import CA_CRL
from cluster.security.identity import Kind
from cluster.transport.quorum import QUORUM_PORT
from cluster.transport.server import split_listen, start_quorum_server
from cluster.version import __version__

STOP_GRACE = 1.0
QS_STATE = "qs.json"
QS_BINDINGS = "qs-clusters.json"


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = CmArgumentParser(
        prog=prog,
        description="The cmcluster quorum server. Serves the Quorum service with mutual "
        "TLS on --listen; keeps its promises in $CMCLUSTER_ROOT/var/lib/cmcluster/qs.json; "
        "logs to $CMCLUSTER_ROOT/var/log/cmcluster/cmqsd.log and syslog. Stops on SIGTERM; "
        "on SIGHUP reads tls/ again: its certificate (cmcert install) and ca.crl (the "
        "CRLs of the clusters' CAs, cmcert revoke). A cluster whose votes it finds lost "
        "(qs.json deleted or restored from a copy) gets no vote until --reset-cluster.",
    )
    parser.add_argument(
        "--listen",
        default=f"0.0.0.0:{QUORUM_PORT}",
        metavar="HOST:PORT",
        help=f"address for the nodes (default 0.0.0.0:{QUORUM_PORT})",
    )
    parser.add_argument("--name", help="this quorum server's name (default: the host name)")
    parser.add_argument("--log-level", default="info", choices=list(LEVELS))
    parser.add_argument("--no-syslog", action="store_true", help="log to the file only")
    parser.add_argument(
        "--reset-cluster",
        metavar="NAME",
        type=cluster_name_arg,
        help="with cmqsd stopped: forget cluster NAME (its votes and its binding), then "
        "exit. Needed when cmqsd refuses to vote for a cluster because its state was lost "
        "or restored from a copy (cmqsd.log and cmviewcl say so), and to let a cluster "
        "created again under the same name (a new cluster id) in. Safe whenever the "
        "cluster runs: no node counts the reset server's vote before its next epoch",
    )
    return parser


def cluster_name_arg(value: str) -> str:
    """argparse type: a valid cluster name."""
    problem = cluster_name_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def reset_cluster(paths: HostPaths, name: str) -> int:
    """--reset-cluster: under cmqsd's pid lock, so never behind a running cmqsd's back."""
    lock = PidLock(paths.run_dir / "cmqsd.pid")
    try:
        lock.acquire("cmqsd")
    except CmError as exc:
        raise CmError(f"{exc}: stop it first (systemctl stop cmqsd)") from None
    try:
        service = QuorumService(paths.state_dir / QS_STATE, paths.state_dir / QS_BINDINGS)
        print(service.reset_cluster(name))
    finally:
        lock.release()
    return 0


def main(argv: list[str], prog: str = "cmqsd") -> int:
    args = build_parser(prog).parse_args(argv)
    paths = HostPaths.from_env()
    if args.reset_cluster:
        return reset_cluster(paths, args.reset_cluster)
    name = local_node_name(args.name)
    problem = node_name_problem(name)
    if problem:
        raise UsageError(f"{problem} (set --name)")
    split_listen(args.listen)
    credentials = own_credentials(paths, name, Kind.QUORUM_SERVER)
    trust = quorum_server_trust(credentials, paths.tls_dir / CA_CRL)
    with daemon_process(
        program="cmqsd",
        name=name,
        pid_file=paths.run_dir / "cmqsd.pid",
        log_file=paths.log_dir / "cmqsd.log",
        level=parse_level(args.log_level),
        syslog=not args.no_syslog,
    ) as process:
        log = process.log
        # Under the pid lock: starting writes this run's state ids.
        service = QuorumService(paths.state_dir / QS_STATE, paths.state_dir / QS_BINDINGS)
        for cluster, why in sorted(service.lost().items()):
            log.error(
                "cluster %s: no vote until cmqsd --reset-cluster %s: %s", cluster, cluster, why
            )

        async def serve() -> None:
            own = OwnCertificate(paths, name, Kind.QUORUM_SERVER, credentials)

            def reload() -> None:
                own.reload(log)
                trust.load_file(paths.tls_dir / CA_CRL)

            stop = stop_event(log, reload=reload)
            server = await start_quorum_server(
                listen=args.listen,
                credentials=lambda: own.current,
                backend=service,
                server_name=name,
                stats=process.stats,
                certificates=trust,
            )
            expiry = asyncio.create_task(
                watch_expiry(lambda: expiry_warnings(own.current), log), name="expiry"
            )
            host = split_listen(args.listen)[0]
            clusters = ", ".join(service.clusters()) or "none yet"
            log.info(
                "cmqsd %s started as %s: mutual TLS on %s:%d; clusters: %s",
                __version__,
                name,
                host,
                server.port,
                clusters,
            )
            sd_notify("READY=1", f"STATUS=serving on {host}:{server.port}")
            await stop.wait()
            sd_notify("STOPPING=1")
            expiry.cancel()
            await server.stop(STOP_GRACE)
            log.info("cmqsd stopped")

        asyncio.run(serve())
    return 0
