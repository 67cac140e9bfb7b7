"""What cmcld and cmqsd do alike before they serve: check their own certificate, take
the pid lock, route gRPC core's log, set up logging; and how they wait for a signal."""

import asyncio
import datetime as dt
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from cluster.daemon.grpclog import capture_core_stderr
from cluster.daemon.logs import setup_logging
from cluster.daemon.pidlock import PidLock
from cluster.errors import CmError
from cluster.hostfiles import exposed_key_problem
from cluster.paths import HostPaths
from cluster.security.ca import certificate_identity, key_matches, validity_problem
from cluster.security.identity import IdentityError, Kind
from cluster.security.pem import Credentials, load_credentials
from cluster.transport.stats import TransportStats

EXPIRY_WARNING_DAYS = 30


def own_credentials(paths: HostPaths, name: str, kind: Kind) -> Credentials:
    """This host's certificate, checked before anything listens; its key must be
    private to the daemon's user (root)."""
    if not paths.node_cert.exists():
        option = "--node" if kind is Kind.NODE else "--quorum-server"
        raise CmError(
            f"no certificate in {paths.tls_dir}: issue one with `cmcert issue {option} {name}` "
            "where the cluster CA lives, copy the bundle here and run `cmcert install BUNDLE`"
        )
    if paths.node_key.exists():
        exposed = exposed_key_problem(paths.node_key, "cmcld" if kind is Kind.NODE else "cmqsd")
        if exposed:
            raise CmError(exposed)
    credentials = load_credentials(paths.node_cert, paths.node_key, paths.ca_cert)
    cert = x509.load_pem_x509_certificate(credentials.certificate)
    try:
        identity = certificate_identity(cert)
    except IdentityError as exc:
        raise CmError(f"{paths.node_cert}: {exc}") from None
    if identity.kind is not kind or identity.name != name:
        raise CmError(f"{paths.node_cert} is for {identity}, but this host is {kind.value} {name}")
    if not key_matches(cert, credentials.key):
        raise CmError(f"{paths.node_key} does not belong to {paths.node_cert}")
    problem = validity_problem(cert)
    if problem:
        raise CmError(
            f"{paths.node_cert}: {kind.value} certificate {problem}; issue and install a new one"
        )
    return credentials


def warn_if_expiring(credentials: Credentials, log: logging.Logger) -> None:
    cert = x509.load_pem_x509_certificate(credentials.certificate)
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    if left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        log.warning("certificate expires in %d days: issue a new one", left.days)


@dataclass
class Process:
    stats: TransportStats
    log: logging.Logger


@contextmanager
def daemon_process(
    *, program: str, name: str, pid_file: Path, log_file: Path, level: int, syslog: bool
) -> Iterator[Process]:
    """One instance per host root (pid lock); files private by default."""
    os.umask(0o077)
    lock = PidLock(pid_file)
    lock.acquire(program)
    try:
        stats = TransportStats()
        capture_core_stderr(stats)
        log = setup_logging(
            program=program, node=name, log_file=log_file, level=level, syslog=syslog
        )
        yield Process(stats, log)
    finally:
        lock.release()


def stop_event(log: logging.Logger, reload: Callable[[], None] | None = None) -> asyncio.Event:
    """Set on SIGTERM or SIGINT; SIGHUP calls `reload` (else is logged: logs reopen by
    themselves); SIGUSR1 writes where every task of the daemon waits to the log (for a
    daemon that seems stuck: thread dumps do not show coroutines)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(
        signal.SIGHUP, reload or (lambda: log.info("SIGHUP: nothing to reload"))
    )
    loop.add_signal_handler(signal.SIGUSR1, lambda: log_tasks(log))
    return stop


def log_tasks(log: logging.Logger) -> None:
    """Every asyncio task with the frames it waits in, innermost last."""
    tasks = sorted(asyncio.all_tasks(), key=lambda t: t.get_name())
    lines = [f"SIGUSR1: {len(tasks)} tasks"]
    for task in tasks:
        frames = task.get_stack(limit=12)
        where = " <- ".join(
            f"{f.f_code.co_name} ({Path(f.f_code.co_filename).name}:{f.f_lineno})"
            for f in reversed(frames)
        )
        lines.append(f"  {task.get_name()}: {where or 'not started'}")
    log.warning("\n".join(lines))
