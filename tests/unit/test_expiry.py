"""Certificate expiry warnings: this node's, its CA's, and the peers' it has seen."""

import datetime as dt
from pathlib import Path

from cluster.daemon.peertrust import PeerTrust
from cluster.daemon.startup import expiry_warnings
from cluster.security import ca
from cluster.security.identity import Identity, Kind
from cluster.security.pem import load_credentials
from tests.support import ClusterCA


def test_warns_thirty_days_before_the_node_or_ca_certificate_ends(
    cluster_ca: ClusterCA, tmp_path: Path
) -> None:
    bundle = cluster_ca.bundle(tmp_path / "n1.pem", node="n1", days=400)
    creds = load_credentials(bundle, None, None)
    now = dt.datetime.now(dt.UTC)
    assert expiry_warnings(creds, now) == []
    soon = expiry_warnings(creds, now + dt.timedelta(days=380))
    assert len(soon) == 1 and soon[0].startswith("certificate CN=n1")
    assert "issue a new one and install it" in soon[0]
    ca_end = cluster_ca.authority.certificate.not_valid_after_utc
    late = expiry_warnings(creds, ca_end - dt.timedelta(days=3))
    assert any(w.startswith("CA certificate") and "in 3 days" in w for w in late)
    assert any("expired on" in w for w in expiry_warnings(creds, ca_end + dt.timedelta(days=1)))


def test_warns_of_peers_certificates_it_has_seen(cluster_ca: ClusterCA) -> None:
    trust = PeerTrust([cluster_ca.authority.certificate])
    short = ca.issue(cluster_ca.authority, Identity(Kind.NODE, "n2"), days=10)
    long = ca.issue(cluster_ca.authority, Identity(Kind.NODE, "n3"), days=300)
    for issued in (short, long):
        trust.verify(ca._cert_pem(issued.certificate))
    warnings = trust.peer_warnings(dt.timedelta(days=30))
    assert len(warnings) == 1 and warnings[0].startswith("the certificate of node n2 expires")


def test_cmviewcl_verbose_shows_the_warnings_and_they_cross_the_wire() -> None:
    import dataclasses

    from cluster.cli.cmviewcl import table
    from cluster.transport.convert import view_from_pb, view_to_pb
    from tests.unit.test_convert_packages import view

    warned = dataclasses.replace(view(), warnings=("the certificate of node n2 expires",))
    assert view_from_pb(view_to_pb(warned)) == warned
    assert "  WARNING: the certificate of node n2 expires" in table(warned, True, None)
    assert "WARNING" not in table(warned, False, None)
