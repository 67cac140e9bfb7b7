"""Which trusted CA issued a peer's certificate (for a quorum server trusting several
clusters' CAs: a cluster's votes may only come from its own CA's nodes)."""

import hashlib
from functools import lru_cache

from cryptography import x509

from cluster.security.ca import fingerprint, signed_by
from cluster.security.pem import split_pem


class TrustBundle:
    def __init__(self, pem: bytes) -> None:
        self.authorities = [x509.load_pem_x509_certificate(b) for b in split_pem(pem).certificates]
        self._issuer = lru_cache(maxsize=1024)(self._find)

    def issuer_fingerprint(self, leaf_pem: bytes) -> str | None:
        """SHA-256 fingerprint of the trusted CA that signed `leaf_pem`, or None."""
        return self._issuer(hashlib.sha256(leaf_pem).hexdigest(), leaf_pem)

    def _find(self, _key: str, leaf_pem: bytes) -> str | None:
        try:
            leaf = x509.load_pem_x509_certificate(leaf_pem)
        except ValueError:
            return None
        for authority in self.authorities:
            if signed_by(leaf, authority):
                return fingerprint(authority)
        return None
