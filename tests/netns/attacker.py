"""An attacker at a lab host: raw gRPC calls over mutual TLS with whatever certificate
chain and key it holds, each call's status recorded; and the certificates an attacker
who has the CA's key (or a CA-signed certificate) could make.

The test process cannot reach the lab's addresses (they live in network namespaces),
so the calls run in a child process on a lab host: `python -m tests.netns.attacker
PLAN` reads a JSON plan, makes every call in order over one channel and prints one
JSON outcome per line. `attack()` writes the plan, runs it there and returns the
outcomes by label. Requests travel as serialized bytes, so a test can send exactly
what it means to, valid message or not.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from google.protobuf.message import Message

    from tests.netns.lab import Lab

REPO = Path(__file__).resolve().parent.parent.parent
CALL_TIMEOUT = 10.0  # seconds per call: every wait is bounded
UNARY, STREAM, BIDI = "unary", "stream", "bidi"  # request/response shapes


@dataclass(frozen=True)
class Call:
    label: str
    method: str  # full path, "/cluster.pb.v1.Node/StageConfig"
    request: bytes
    shape: str = UNARY


def node_call(label: str, method: str, request: Message, shape: str = UNARY) -> Call:
    return Call(label, f"/cluster.pb.v1.Node/{method}", request.SerializeToString(), shape)


def admin_call(label: str, method: str, request: Message, shape: str = UNARY) -> Call:
    return Call(label, f"/cluster.pb.v1.Admin/{method}", request.SerializeToString(), shape)


def quorum_call(label: str, request: Message) -> Call:
    return Call(label, "/cluster.pb.v1.Quorum/Exchange", request.SerializeToString())


@dataclass(frozen=True)
class Client:
    """What the attacker presents: a PEM chain (leaf first), its key, the CA it trusts."""

    chain: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class Outcome:
    label: str
    code: str  # a grpc.StatusCode name, "OK" when the call succeeded
    details: str
    replies: tuple[bytes, ...] = field(default=())

    def __str__(self) -> str:
        return f"{self.label}: {self.code} {self.details!r}"


def attack(
    lab: Lab,
    host: str,
    *,
    target: str,
    server_name: str,
    client: Client,
    calls: Sequence[Call],
    work: Path,
) -> dict[str, Outcome]:
    """Make `calls` from lab host `host` to `target` ("ADDRESS:PORT", whose certificate
    must name `server_name`) as `client`; the outcome of each, by label."""
    labels = [c.label for c in calls]
    assert len(set(labels)) == len(labels), f"labels must differ: {labels}"
    plan = {
        "target": target,
        "server_name": server_name,
        "chain": str(client.chain),
        "key": str(client.key),
        "ca": str(client.ca),
        "calls": [
            {
                "label": c.label,
                "method": c.method,
                "shape": c.shape,
                "request": base64.b64encode(c.request).decode(),
            }
            for c in calls
        ],
    }
    path = work / f"plan-{os.getpid()}-{len(list(work.glob('plan-*')))}.json"
    path.write_text(json.dumps(plan))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMCLUSTER_", "GRPC_"))}
    env["PYTHONPATH"] = str(REPO)
    budget = 20 + CALL_TIMEOUT * len(calls)
    done = lab.run(
        host, [sys.executable, "-m", "tests.netns.attacker", str(path)], env, timeout=budget
    )
    assert done.returncode == 0, f"the attacker failed:\n{done.stdout}{done.stderr}"
    outcomes = [_outcome(json.loads(line)) for line in done.stdout.splitlines() if line]
    assert [o.label for o in outcomes] == labels, done.stdout
    return {o.label: o for o in outcomes}


def _outcome(data: dict[str, Any]) -> Outcome:
    replies = tuple(base64.b64decode(r) for r in data["replies"])
    return Outcome(data["label"], data["code"], data["details"], replies)


# -- forged certificates ---------------------------------------------------------------


def new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def forge(
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    uris: Sequence[str] = (),
    dns: Sequence[str] = (),
    ca: bool = False,
) -> x509.Certificate:
    """A certificate signed by `issuer` with the extensions cluster/security/ca.py
    gives a leaf (or, with `ca`, those of a CA that may sign certificates), naming
    exactly what it is told to: hostile SANs included."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.UniformResourceIdentifier(u) for u in uris]
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cmcluster"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not ca,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if not ca:
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_client(
    directory: Path,
    name: str,
    chain: Sequence[x509.Certificate],
    key: ec.EllipticCurvePrivateKey,
    ca_pem: bytes,
) -> Client:
    """The files of a Client: chain.pem, key.pem (0600) and ca.pem under directory/name."""
    from cryptography.hazmat.primitives import serialization

    where = directory / name
    where.mkdir(parents=True, exist_ok=True)
    client = Client(where / "chain.pem", where / "key.pem", where / "ca.pem")
    client.chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    client.key.touch(mode=0o600)
    client.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    client.ca.write_bytes(ca_pem)
    return client


def client_of_bundle(directory: Path, name: str, bundle: Path) -> Client:
    """A Client from a bundle made by cmcert issue (leaf, CA certificate, key)."""
    from cluster.security.pem import load_credentials

    creds = load_credentials(bundle, None, None)
    where = directory / name
    where.mkdir(parents=True, exist_ok=True)
    client = Client(where / "chain.pem", where / "key.pem", where / "ca.pem")
    client.chain.write_bytes(creds.certificate)
    client.key.touch(mode=0o600)
    client.key.write_bytes(creds.key)
    client.ca.write_bytes(creds.ca)
    return client


# -- the child process ---------------------------------------------------------------------


def _one_request(request: bytes) -> Iterator[bytes]:
    yield request


def _call(channel: Any, call: dict[str, Any]) -> dict[str, Any]:
    import grpc

    request = base64.b64decode(call["request"])
    method, shape = call["method"], call["shape"]
    replies: list[bytes] = []
    try:
        if shape == UNARY:
            replies.append(channel.unary_unary(method)(request, timeout=CALL_TIMEOUT))
        elif shape == STREAM:
            replies.extend(channel.unary_stream(method)(request, timeout=CALL_TIMEOUT))
        else:
            stream = channel.stream_stream(method)(_one_request(request), timeout=CALL_TIMEOUT)
            replies.append(next(iter(stream)))
            stream.cancel()
    except grpc.RpcError as err:
        code, details = err.code().name, err.details() or ""
    except StopIteration:
        code, details = "OK", "the stream ended without a reply"
    else:
        code, details = "OK", ""
    return {
        "label": call["label"],
        "code": code,
        "details": details,
        "replies": [base64.b64encode(r).decode() for r in replies],
    }


def main(plan_file: str) -> int:
    import grpc

    plan = json.loads(Path(plan_file).read_text())
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(plan["ca"]).read_bytes(),
        private_key=Path(plan["key"]).read_bytes(),
        certificate_chain=Path(plan["chain"]).read_bytes(),
    )
    options = [("grpc.ssl_target_name_override", plan["server_name"])]
    with grpc.secure_channel(plan["target"], credentials, options=options) as channel:
        for call in plan["calls"]:
            print(json.dumps(_call(channel, call)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
