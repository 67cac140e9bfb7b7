"""Which client certificates a daemon accepts, at every call: issued directly by a CA
it trusts (tls/ca.crt), checked again beyond the handshake (security/peercert.py), and
not revoked.

cmcld takes its revocation lists from the applied configuration (cmapplyconf --crl
distributes them with it), so every node refuses the same certificates from the same
generation on. cmqsd, which has no configuration, reads tls/ca.crl and again on SIGHUP.
"""

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509

from cluster.daemon.configstore import ConfigStore
from cluster.errors import CmError, UsageError
from cluster.security.crl import Revocations, load_crls, merged, read_crls
from cluster.security.identity import IdentityError, Kind
from cluster.security.peercert import CertificateRefused, PeerCertificate, PeerVerifier
from cluster.security.pem import Credentials, split_pem
from cluster.transport.heartbeat import HeartbeatLinks

log = logging.getLogger("cmcld.auth")


def trusted_cas(ca_pem: bytes) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(b) for b in split_pem(ca_pem).certificates]


class PeerTrust:
    """The transport's CertificateCheck; `changed` listeners learn of new lists (the
    heartbeat links then close streams whose certificate is no longer accepted)."""

    def __init__(self, cas: Sequence[x509.Certificate]) -> None:
        self._cas = list(cas)
        self._verifier = PeerVerifier(self._cas)
        self.changed: list[Callable[[], None]] = []
        self._expiry: dict[str, dt.datetime] = {}  # peer -> its certificate's end, as seen

    @property
    def revocations(self) -> tuple[Revocations, ...]:
        return self._verifier.revocations

    def verify(self, leaf_pem: bytes) -> PeerCertificate:
        """Raises IdentityError saying why the certificate is not accepted."""
        try:
            peer = self._verifier.verify(leaf_pem)
        except CertificateRefused as exc:
            raise IdentityError(str(exc)) from None
        if peer.identity.kind is Kind.NODE:
            self._expiry[peer.identity.name] = peer.not_after
        return peer

    def peer_warnings(self, within: dt.timedelta, now: dt.datetime | None = None) -> list[str]:
        """The peers whose certificate (the one they last called with) ends soon."""
        moment = now or dt.datetime.now(dt.UTC)
        return [
            f"the certificate of node {name} expires on {end:%Y-%m-%d}: issue it a new "
            "one and install it there (cmcert issue --node, cmcert install)"
            for name, end in sorted(self._expiry.items())
            if end - moment < within
        ]

    def accepts(self, leaf_pem: bytes) -> bool:
        try:
            self._verifier.verify(leaf_pem)
        except CertificateRefused:
            return False
        return True

    def set_revocations(self, pem: bytes, origin: str) -> None:
        """Enforce the lists in `pem` from now on; a list no trusted CA signed is
        refused (logged), keeping the lists in force."""
        try:
            lists = load_crls(pem, self._cas, origin) if pem else ()
        except UsageError as exc:
            log.error("revocation lists NOT updated: %s", exc)
            return
        self._enforce(lists)

    def load_file(self, crl_file: Path, strict: bool = False) -> None:
        """The lists of a file (cmqsd's tls/ca.crl); a missing file changes nothing. A
        bad one is logged and the lists in force kept, or, `strict` (at start, when
        none are in force yet), a CmError: starting as if nothing were revoked is not
        an answer to a damaged list."""
        if not crl_file.exists():
            return
        try:
            lists = read_crls(crl_file, self._cas)
        except UsageError as exc:
            if strict:
                raise CmError(f"{exc}: fix or remove it") from None
            log.error("revocation lists NOT updated: %s", exc)
            return
        self._enforce(lists)

    def _enforce(self, lists: tuple[Revocations, ...]) -> None:
        if lists == self._verifier.revocations:
            return
        self._verifier = self._verifier.with_revocations(lists)
        for r in lists:
            log.info("enforcing %s", r)
        for listener in self.changed:
            listener()

    def successor(self, current: bytes, offered: bytes, origin: str) -> bytes:
        """The lists to apply when `offered` (cmapplyconf --crl) replaces `current`:
        each must be signed by a trusted CA and not older than the one it replaces.
        Raises CmError saying why not."""
        try:
            old = load_crls(current, self._cas, "the applied revocation list") if current else ()
            new = merged(old, load_crls(offered, self._cas, origin), origin)
        except UsageError as exc:
            raise CmError(str(exc)) from None
        return b"".join(r.pem for r in new)


def node_trust(credentials: Credentials, store: ConfigStore) -> PeerTrust:
    """cmcld's trust: its CA, and the revocation lists of the applied configuration
    from now on and after every change of it."""
    trust = PeerTrust(trusted_cas(credentials.ca))

    def follow() -> None:
        config = store.config
        trust.set_revocations(config.revocation_list if config else b"", "the configuration")

    store.listeners.append(follow)
    follow()
    return trust


def recheck_heartbeats(links: HeartbeatLinks, store: ConfigStore, trust: PeerTrust) -> None:
    """After a configuration or its revocation lists changed: close the heartbeat
    streams of nodes the configuration no longer names and of revoked certificates
    (the calls they make from then on are refused by the authorizer)."""

    def keep(peer: str, certificate: bytes) -> bool:
        config = store.config
        configured = config is not None and config.cluster.node(peer) is not None
        return configured and (not certificate or trust.accepts(certificate))

    def recheck() -> None:
        links.drop(keep, "no longer a node of the configuration, or its certificate revoked")

    store.listeners.append(recheck)
    trust.changed.append(recheck)


def quorum_server_trust(credentials: Credentials, crl_file: Path) -> PeerTrust:
    """cmqsd's trust: every CA of its tls/ca.crt, the lists in its ca.crl (optional)."""
    trust = PeerTrust(trusted_cas(credentials.ca))
    trust.load_file(crl_file, strict=True)
    return trust
