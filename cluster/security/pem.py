"""PEM files and credential bundles, handled as text so commands need no crypto library.

A bundle is what `cmcert issue` writes and an operator copies to a host: one PEM file
holding the leaf certificate first, then the cluster CA certificate, then the private
key. The same file works as `--cert` for a user; `cmcert install` splits a node bundle
into the host's tls/ directory.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import UsageError
from cluster.hostfiles import MAX_CONFIG_FILE, RefusedFile, read_regular

_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]*?-----END \1-----\r?\n?")
_KEY_LABELS = {b"PRIVATE KEY", b"EC PRIVATE KEY", b"RSA PRIVATE KEY"}


@dataclass(frozen=True)
class PemBlocks:
    certificates: list[bytes]
    keys: list[bytes]


def split_pem(data: bytes) -> PemBlocks:
    certs: list[bytes] = []
    keys: list[bytes] = []
    for match in _BLOCK.finditer(data):
        block = match.group(0)
        if not block.endswith(b"\n"):
            block += b"\n"
        label = match.group(1)
        if label == b"CERTIFICATE":
            certs.append(block)
        elif label in _KEY_LABELS:
            keys.append(block)
    return PemBlocks(certs, keys)


MAX_CRL_BYTES = 8 * 1024 * 1024  # a CRL: ~200,000 entries; refuses a device at once


def read_file(path: Path, what: str, limit: int = MAX_CONFIG_FILE) -> bytes:
    """A certificate, key or CRL file: a regular file of at most `limit` bytes (a
    device or a FIFO given by mistake is refused at once, not read until memory ends)."""
    try:
        return read_regular(path, limit)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected {what}") from None
    except RefusedFile as exc:
        raise UsageError(f"{path}: {exc}, expected {what}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror}") from None


@dataclass(frozen=True)
class Credentials:
    """What a TLS endpoint needs: our certificate and key, and the CA we trust."""

    certificate: bytes
    key: bytes
    ca: bytes


def load_credentials(cert: Path, key: Path | None, ca: Path | None) -> Credentials:
    """Credentials from a bundle (`cert` alone) or separate files; the first
    certificate of `cert` is ours, later ones are taken as the CA when `ca` is None."""
    blocks = split_pem(read_file(cert, "certificate"))
    if not blocks.certificates:
        raise UsageError(f"{cert}: no PEM certificate in it")
    if key is not None:
        keys = split_pem(read_file(key, "private key")).keys
        key_origin = key
    else:
        keys = blocks.keys
        key_origin = cert
    if len(keys) != 1:
        found = "no" if not keys else str(len(keys))
        raise UsageError(
            f"{key_origin}: {found} private keys in it; give exactly one "
            "(--key FILE, or a bundle made by cmcert issue)"
        )
    if ca is not None:
        ca_certs = split_pem(read_file(ca, "CA certificate")).certificates
        ca_origin = ca
    else:
        ca_certs = blocks.certificates[1:]
        ca_origin = cert
    if not ca_certs:
        raise UsageError(
            f"{ca_origin}: no CA certificate; give the cluster CA with --ca FILE "
            "or use the bundle made by cmcert issue"
        )
    return Credentials(blocks.certificates[0], keys[0], b"".join(ca_certs))
