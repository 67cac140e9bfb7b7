"""Why a connection failed, in words an operator can act on.

gRPC reports a dead daemon, a refused certificate and a foreign CA all as UNAVAILABLE
("Socket closed"); the reason exists only on the server's side. After a failure we
probe step by step (socket, TLS handshake, our own certificate) and say which step
broke. The probe also finds the node name behind an address given as an IP.
"""

import errno
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import Unreachable
from cluster.security.pem import Credentials

PROBE_TIMEOUT = 2.0


def probe_socket(path: Path) -> str:
    """Why the admin socket at `path` cannot be used."""
    if not path.exists():
        return f"cmcld is not running on this node (no {path})"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(PROBE_TIMEOUT)
        try:
            s.connect(str(path))
        except PermissionError:
            return f"permission denied on {path}: run as root, or give a user certificate (--cert)"
        except ConnectionRefusedError:
            return f"cmcld is not running on this node (stale socket {path})"
        except OSError as exc:
            return f"cannot connect to {path}: {exc.strerror or exc}"
    return f"cmcld at {path} accepted the connection but the call failed; see cmcld.log"


def _connect(host: str, port: int) -> socket.socket:
    try:
        return socket.create_connection((host, port), timeout=PROBE_TIMEOUT)
    except ConnectionRefusedError:
        raise Unreachable(
            f"nothing listens at {host}:{port} (connection refused): is cmcld running there?"
        ) from None
    except TimeoutError:
        raise Unreachable(
            f"no answer from {host}:{port} within {PROBE_TIMEOUT:g} s "
            "(host down or traffic blocked)"
        ) from None
    except socket.gaierror as exc:
        raise Unreachable(f"cannot resolve {host!r}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise Unreachable(f"no route to {host}:{port}") from None
        raise Unreachable(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Probe:
    names: list[str]  # DNS names in the server's certificate (verified by our CA)
    accepted: bool  # the server went on to speak HTTP/2 after seeing our certificate


def _client_context(creds: Credentials) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=creds.ca.decode("ascii", errors="replace"))
    context.set_alpn_protocols(["h2"])
    # ssl wants files; an anonymous memory file keeps the key off the disk.
    fd = os.memfd_create("cmcluster-probe", os.MFD_CLOEXEC)
    try:
        os.write(fd, creds.certificate + creds.key)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    return context


def probe_tls(host: str, port: int, creds: Credentials) -> Probe:
    """Handshake as cmcld's clients do and report what the server showed and did.

    Raises Unreachable with the reason when the server is not a TLS server of our
    cluster. A server that refuses our certificate closes the connection right after
    the handshake; one that accepts it sends its HTTP/2 settings first."""
    context = _client_context(creds)
    with _connect(host, port) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                cert = tls.getpeercert() or {}
                try:
                    accepted = bool(tls.recv(1))
                except TimeoutError:
                    accepted = True  # silent but open: a refusal closes at once
                except (ssl.SSLError, OSError):
                    accepted = False
        except ssl.SSLCertVerificationError as exc:
            raise Unreachable(
                f"{host}:{port} presents a certificate not issued by your cluster CA "
                f"({exc.verify_message}): another cluster's node, or the wrong --ca"
            ) from None
        except ssl.SSLError as exc:
            raise Unreachable(
                f"{host}:{port} does not speak TLS as cmcld does ({exc.reason})"
            ) from None
        except OSError as exc:
            raise Unreachable(f"TLS handshake with {host}:{port} failed: {exc}") from None
    san: tuple[tuple[str, str], ...] = cert.get("subjectAltName", ())  # type: ignore[assignment]
    names = [value for kind, value in san if kind == "DNS"]
    return Probe(names, accepted)


def explain_refusal(
    host: str, port: int, creds: Credentials, expected: str | None, probe: Probe | None = None
) -> str:
    """Why a TLS server at `host:port` would not talk to us (probing unless given)."""
    if probe is None:
        try:
            probe = probe_tls(host, port, creds)
        except Unreachable as exc:
            return str(exc)
    if expected and expected not in probe.names:
        return f"{host}:{port} is node {', '.join(probe.names) or '(unnamed)'}, not {expected}"
    if not probe.accepted:
        problem = _own_certificate_problem(creds)
        reason = f": it {problem}" if problem else " (its cmcld.log says why)"
        return f"cmcld at {host}:{port} refused your certificate{reason}"
    return f"cmcld at {host}:{port} accepts us now; the call failed before it (retry?)"


def _own_certificate_problem(creds: Credentials) -> str | None:
    # Only on the failure path: keep cryptography off the normal command path.
    from cryptography import x509

    from cluster.security.ca import signed_by, validity_problem
    from cluster.security.pem import split_pem

    try:
        ours = x509.load_pem_x509_certificate(creds.certificate)
    except ValueError:
        return "is not a valid certificate"
    problem = validity_problem(ours)
    if problem:
        return f"{problem}; issue a new one with cmcert issue"
    cas = []
    for block in split_pem(creds.ca).certificates:
        try:
            cas.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            continue
    if cas and not any(signed_by(ours, ca) for ca in cas):
        return "was not issued by this cluster's CA"
    return None
