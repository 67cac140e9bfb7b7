"""cmqsd: the quorum server. Runs in the foreground (systemd Type=notify) until SIGTERM.

An extra Paxos acceptor that breaks ties for clusters whose membership is even, and
answers their nodes' pings only while exactly half of a membership answers them. One
cmqsd may serve several clusters; each cluster name is bound to the CA of its nodes.
Its certificate comes from `cmcert issue --quorum-server NAME`; it trusts the CAs in
tls/ca.crt (append the other clusters' ca.crt to serve them too) and refuses the
certificates their CRLs in tls/ca.crl revoke. SIGHUP reads tls/ again: its own
certificate (after `cmcert install --force`) and the CRLs.
"""

import argparse
import asyncio

from cluster.cli.args import CmArgumentParser
from cluster.daemon.logs import LEVELS, parse_level
from cluster.daemon.notify import sd_notify
from cluster.daemon.owncert import OwnCertificate
from cluster.daemon.peertrust import quorum_server_trust
from cluster.daemon.startup import (
    daemon_process,
    expiry_warnings,
    own_credentials,
    stop_event,
    watch_expiry,
)
from cluster.errors import UsageError
from cluster.names import node_name_problem
from cluster.paths import HostPaths, local_node_name
from cluster.quorum.service import QuorumService
from cluster.security.crl import CA_CRL
from cluster.security.identity import Kind
from cluster.transport.quorum import QUORUM_PORT
from cluster.transport.server import split_listen, start_quorum_server
from cluster.version import __version__

STOP_GRACE = 1.0


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = CmArgumentParser(
        prog=prog,
        description="The cmcluster quorum server. Serves the Quorum service with mutual "
        "TLS on --listen; keeps its promises in $CMCLUSTER_ROOT/var/lib/cmcluster/qs.json; "
        "logs to $CMCLUSTER_ROOT/var/log/cmcluster/cmqsd.log and syslog. Stops on SIGTERM; "
        "on SIGHUP reads tls/ again: its certificate (cmcert install) and ca.crl (the "
        "CRLs of the clusters' CAs, cmcert revoke).",
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
    return parser


def main(argv: list[str], prog: str = "cmqsd") -> int:
    args = build_parser(prog).parse_args(argv)
    paths = HostPaths.from_env()
    name = local_node_name(args.name)
    problem = node_name_problem(name)
    if problem:
        raise UsageError(f"{problem} (set --name)")
    split_listen(args.listen)
    credentials = own_credentials(paths, name, Kind.QUORUM_SERVER)
    trust = quorum_server_trust(credentials, paths.tls_dir / CA_CRL)
    service = QuorumService(paths.state_dir / "qs.json", paths.state_dir / "qs-clusters.json")
    with daemon_process(
        program="cmqsd",
        name=name,
        pid_file=paths.run_dir / "cmqsd.pid",
        log_file=paths.log_dir / "cmqsd.log",
        level=parse_level(args.log_level),
        syslog=not args.no_syslog,
    ) as process:
        log = process.log

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
