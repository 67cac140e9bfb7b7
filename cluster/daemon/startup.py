"""What cmcld and cmqsd do alike before they serve: check their own certificate, take
the pid lock, route gRPC core's log, set up logging; and how they wait for a signal."""

import asyncio
import datetime as dt
import logging
import os
import resource
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from cluster.core import events as alert
from cluster.daemon.grpclog import capture_core_stderr
from cluster.daemon.logs import setup_logging
from cluster.daemon.pidlock import PidLock
from cluster.errors import CmError
from cluster.hostfiles import exposed_key_problem
from cluster.paths import HostPaths
from cluster.security.ca import certificate_identity, key_matches, validity_problem
from cluster.security.identity import IdentityError, Kind
from cluster.security.pem import Credentials, load_credentials, split_pem
from cluster.transport.stats import TransportStats

EXPIRY_WARNING_DAYS = 30
EXPIRY_CHECK_INTERVAL = 24 * 3600.0


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


def expiry_warnings(credentials: Credentials, now: dt.datetime | None = None) -> list[str]:
    """One sentence for this host's certificate and for each CA certificate it trusts
    that expires within EXPIRY_WARNING_DAYS (cmviewcl -v shows them too)."""
    moment = now or dt.datetime.now(dt.UTC)
    found = [("certificate", x509.load_pem_x509_certificate(credentials.certificate))]
    found += [
        ("CA certificate", x509.load_pem_x509_certificate(pem))
        for pem in split_pem(credentials.ca).certificates
    ]
    warnings = []
    for what, cert in found:
        left = cert.not_valid_after_utc - moment
        if left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
            subject = cert.subject.rfc4514_string()
            when = f"{cert.not_valid_after_utc:%Y-%m-%d}"
            if left.total_seconds() <= 0:
                warnings.append(f"{what} {subject} expired on {when}")
            else:
                days = left.days
                warnings.append(
                    f"{what} {subject} expires on {when} (in {days} day{'s' * (days != 1)}): "
                    + (
                        "issue a new one and install it (cmcert issue, cmcert install)"
                        if what == "certificate"
                        else "create a new CA and re-issue every certificate"
                    )
                )
    return warnings


async def watch_expiry(
    warnings: Callable[[], list[str]],
    log: logging.Logger,
    on_event: Callable[[alert.Event], None] = lambda _event: None,
) -> None:
    """Log the expiry warnings at start and then once a day, for as long as they hold
    (each also an event for the alert scripts)."""
    while True:
        for warning in warnings():
            log.warning("%s", warning)
            on_event(alert.Event(alert.Kind.CERTIFICATE_EXPIRING, reason=warning))
        await asyncio.sleep(EXPIRY_CHECK_INTERVAL)


@dataclass
class Process:
    stats: TransportStats
    log: logging.Logger


@contextmanager
def daemon_process(
    *, program: str, name: str, pid_file: Path, log_file: Path, level: int, syslog: bool
) -> Iterator[Process]:
    """One instance per host root (pid lock); files private by default; descriptors
    for a connection flood."""
    os.umask(0o077)
    lock = PidLock(pid_file)
    lock.acquire(program)
    try:
        stats = TransportStats()
        capture_core_stderr(stats)
        log = setup_logging(
            program=program, node=name, log_file=log_file, level=level, syslog=syslog
        )
        raise_open_files(log)
        yield Process(stats, log)
    finally:
        lock.release()


OPEN_FILES = 65536  # descriptors cmcld asks for: far above MAX_CONNECTIONS


def raise_open_files(log: logging.Logger) -> int:
    """Lift the soft RLIMIT_NOFILE to OPEN_FILES (or the hard limit, if lower).

    Debian's default soft limit is 1024: 1,100 unauthenticated TCP connections used
    every descriptor and root's own commands failed meanwhile. Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d: %s", soft, exc)
            return soft
        soft = wanted
    if soft < OPEN_FILES:
        log.warning(
            "open-files limit is %d (hard limit %d): a connection flood can exhaust it; "
            "raise LimitNOFILE",
            soft,
            hard,
        )
    return soft


def stop_event(log: logging.Logger, reload: Callable[[], object] | None = None) -> asyncio.Event:
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
