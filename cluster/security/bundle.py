"""Installing a node's credential bundle on its host, after checking it is sound.

The checks catch the usual deployment mistakes before cmcld fails a handshake with a
terse reason: a bundle for another node, a key that is not the certificate's, a
certificate from another cluster's CA, an expired certificate.
"""

from pathlib import Path

from cryptography import x509

from cluster.atomicfile import save_file
from cluster.errors import UsageError
from cluster.paths import HostPaths
from cluster.security.ca import (
    certificate_identity,
    key_matches,
    signed_by,
    validity_problem,
)
from cluster.security.identity import IdentityError, Kind
from cluster.security.pem import read_file, split_pem


def install_node_bundle(paths: HostPaths, bundle: Path, node: str, force: bool) -> str:
    """Write ca.crt, node.crt and node.key (0600) of `bundle` into the host's tls/.

    Returns the node name the bundle is for."""
    blocks = split_pem(read_file(bundle, "credential bundle"))
    if len(blocks.certificates) < 2 or len(blocks.keys) != 1:
        raise UsageError(
            f"{bundle}: not a cmcert bundle (expected a certificate, the CA certificate "
            "and one private key)"
        )
    try:
        leaf = x509.load_pem_x509_certificate(blocks.certificates[0])
        ca = x509.load_pem_x509_certificate(blocks.certificates[1])
    except ValueError as exc:
        raise UsageError(f"{bundle}: corrupt certificate ({exc})") from None
    try:
        identity = certificate_identity(leaf)
    except IdentityError as exc:
        raise UsageError(f"{bundle}: {exc}") from None
    if identity.kind not in (Kind.NODE, Kind.QUORUM_SERVER):
        raise UsageError(
            f"{bundle}: holds a certificate for {identity}, not a node or quorum server; "
            "users pass theirs with --cert instead of installing it"
        )
    if identity.name != node and not force:
        raise UsageError(
            f"{bundle}: is for {identity.kind.value} {identity.name!r} but this host is {node!r} "
            "(set --node/CMCLUSTER_NODE, or --force to install anyway)"
        )
    if not key_matches(leaf, blocks.keys[0]):
        raise UsageError(f"{bundle}: the private key does not belong to the certificate")
    if not signed_by(leaf, ca):
        raise UsageError(f"{bundle}: the certificate was not issued by the CA in the bundle")
    problem = validity_problem(leaf)
    if problem:
        raise UsageError(f"{bundle}: the certificate {problem}; issue a new one")
    existing = [p for p in (paths.node_cert, paths.node_key) if p.exists()]
    if existing and not force:
        raise UsageError(
            f"{paths.tls_dir}: credentials are installed already; use --force to replace them"
        )
    # Key first, certificate last: cmcld never sees a certificate without its key.
    save_file(paths.node_key, blocks.keys[0], 0o600)
    save_file(paths.ca_cert, blocks.certificates[1], 0o644)
    save_file(paths.node_cert, blocks.certificates[0], 0o644)
    return identity.name
