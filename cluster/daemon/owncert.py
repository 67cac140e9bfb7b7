"""This host's own certificate, replaceable without a restart.

Rotating a node's certificate must not cost an outage: `cmcert install --force NEW`
writes the new files and signals cmcld (SIGHUP), which checks them as at start and,
if sound, serves new handshakes with them and dials new connections with them.
Connections made with the old certificate keep running until its revocation (cmcert
revoke, cmapplyconf --crl) makes the peers close them; they reconnect with the new.
"""

import datetime as dt
import logging
from collections.abc import Callable

from cluster.daemon.peertrust import PeerTrust
from cluster.daemon.startup import EXPIRY_WARNING_DAYS, expiry_warnings, own_credentials
from cluster.errors import CmError
from cluster.paths import HostPaths
from cluster.security.identity import Kind
from cluster.security.pem import Credentials


class OwnCertificate:
    def __init__(self, paths: HostPaths, name: str, kind: Kind, credentials: Credentials) -> None:
        self._paths, self._name, self._kind = paths, name, kind
        self.current = credentials
        self.listeners: list[Callable[[Credentials], None]] = []

    def reload(self, log: logging.Logger) -> bool:
        """Read tls/ again; True when a new, sound certificate is now in use."""
        try:
            fresh = own_credentials(self._paths, self._name, self._kind)
        except CmError as exc:
            log.error("SIGHUP: certificate NOT reloaded, still using the previous one: %s", exc)
            return False
        if fresh == self.current:
            log.info("SIGHUP: certificate unchanged")
            return False
        self.current = fresh
        for listener in self.listeners:
            listener(fresh)
        log.warning("SIGHUP: new certificate in use from now on (%s)", self._paths.node_cert)
        return True


def certificate_warnings(own: OwnCertificate, trust: PeerTrust) -> Callable[[], list[str]]:
    """What cmviewcl -v and the log warn of: this node's certificate, its CA's, and the
    peers' certificates it has seen, ending within EXPIRY_WARNING_DAYS."""

    def warnings() -> list[str]:
        soon = dt.timedelta(days=EXPIRY_WARNING_DAYS)
        return expiry_warnings(own.current) + trust.peer_warnings(soon)

    return warnings
