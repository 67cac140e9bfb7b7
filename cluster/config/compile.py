"""The validated configuration to and from its binary form (cmclconfig).

`ClusterConfig` holds the normalized entry trees (canonical keywords, every default
filled in, declaration order, packages sorted by name) so its serialization is the
same bytes for the same configuration on every node and every run: the SHA-256
digest of those bytes identifies a configuration. A `ConfigBlob` adds the generation
number that decides which of two configurations is newer.

Reading checks the digest and every keyword and value against the declarations, so a
corrupted or foreign file is refused with a reason instead of half-understood.
"""

import hashlib

from cluster.config.build import build_cluster, build_package
from cluster.config.model import Config
from cluster.config.params_cluster import CLUSTER_SCHEMA
from cluster.config.params_package import PACKAGE_SCHEMA
from cluster.config.problems import ConfigError, Problem
from cluster.config.schema import Param
from cluster.config.tree import Document, Entry
from cluster.config.types import Value
from cluster.names import shown
from cluster.pb.v1 import config_pb2 as pb


def compile_config(config: Config) -> pb.ClusterConfig:
    """The protobuf form of a validated configuration."""
    out = pb.ClusterConfig(
        cluster_name=config.cluster.name,
        revocation_list=config.revocation_list,
        cluster_id=config.cluster_id,
    )
    out.entries.extend(_to_pb(e) for e in config.cluster.document.entries)
    for package in sorted(config.packages, key=lambda p: p.name):
        item = out.packages.add(package_name=package.name, source_file=package.document.path)
        item.entries.extend(_to_pb(e) for e in package.document.entries)
    return out


def serialize(message: pb.ClusterConfig) -> bytes:
    return message.SerializeToString(deterministic=True)


def digest_of(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def make_blob(
    config: Config, generation: int, applied_by: str = "", applied_at_ms: int = 0
) -> pb.ConfigBlob:
    """The blob cmapplyconf distributes: configuration bytes, digest, generation."""
    data = serialize(compile_config(config))
    return pb.ConfigBlob(
        generation=generation,
        digest=digest_of(data),
        config=data,
        applied_by=applied_by,
        applied_at_unix_ms=applied_at_ms,
    )


def blob_bytes(blob: pb.ConfigBlob) -> bytes:
    """What is written to cmclconfig."""
    return blob.SerializeToString(deterministic=True)


def read_blob(data: bytes, path: str = "cmclconfig") -> pb.ConfigBlob:
    """A blob from cmclconfig's bytes, its digest verified; raises ConfigError."""
    blob = pb.ConfigBlob()
    try:
        blob.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError, a bare Exception subclass
        raise _error(path, f"not a cmcluster binary configuration ({exc})") from exc
    verify_digest(blob, path)
    return blob


def verify_digest(blob: pb.ConfigBlob, path: str = "cmclconfig") -> None:
    if digest_of(blob.config) != blob.digest:
        raise _error(
            path,
            f"generation {blob.generation}: the digest does not match the configuration "
            "(corrupted or truncated); fetch it again from another node",
        )


def decode_config(blob: pb.ConfigBlob, path: str = "cmclconfig") -> Config:
    """The typed configuration inside a verified blob; raises ConfigError."""
    verify_digest(blob, path)
    message = pb.ClusterConfig()
    try:
        message.ParseFromString(blob.config)
    except Exception as exc:
        raise _error(path, f"unreadable configuration ({exc})") from exc
    return config_from_pb(message, path)


def config_from_pb(message: pb.ClusterConfig, path: str = "cmclconfig") -> Config:
    problems: list[Problem] = []
    where = f"{path} (cluster)"
    entries = tuple(_from_pb(e, CLUSTER_SCHEMA.params, where, problems) for e in message.entries)
    cluster_doc = Document("cluster", path, entries)
    package_docs = []
    for item in message.packages:
        where = f"{path} (package {shown(item.package_name)})"
        entries = tuple(_from_pb(e, PACKAGE_SCHEMA.params, where, problems) for e in item.entries)
        package_docs.append(Document("package", item.source_file or item.package_name, entries))
    if problems:
        raise ConfigError(problems)
    try:
        cluster = build_cluster(cluster_doc)
        packages = tuple(build_package(d) for d in package_docs)
    except (KeyError, ValueError, TypeError, AssertionError) as exc:
        # The builders expect what compile_config writes (every default filled in): a
        # stored or received configuration without it is refused, not half-read.
        raise _error(path, f"incomplete configuration ({type(exc).__name__})") from None
    if message.cluster_id and not (message.cluster_id.isalnum() and message.cluster_id.isascii()):
        raise _error(path, "cluster id: letters and digits only")
    packages = tuple(sorted(packages, key=lambda p: p.name))
    return Config(cluster, packages, message.revocation_list, message.cluster_id[:64])


def _to_pb(entry: Entry) -> pb.ConfigEntry:
    item = pb.ConfigEntry(keyword=entry.keyword)
    value = entry.value
    if isinstance(value, bool):
        item.flag = value
    elif isinstance(value, int):
        item.integer = value
    else:
        item.text = value
    item.children.extend(_to_pb(c) for c in entry.children)
    return item


def _from_pb(
    item: pb.ConfigEntry, params: tuple[Param, ...], where: str, problems: list[Problem]
) -> Entry:
    param = next((p for p in params if p.keyword == item.keyword), None)
    kind = item.WhichOneof("value")
    value: Value = getattr(item, kind) if kind else ""
    if param is None or param.unsupported or param.ignored:
        problems.append(
            Problem(where, 0, f"unknown parameter {item.keyword!r} (written by a newer cmcluster?)")
        )
        return Entry(item.keyword, value)
    try:
        again = param.type.parse(param.type.render(value))
    except (ValueError, AssertionError) as exc:
        problems.append(Problem(where, 0, f"{item.keyword}: bad stored value {value!r} ({exc})"))
    else:
        if again != value or type(again) is not type(value):
            problems.append(Problem(where, 0, f"{item.keyword}: bad stored value {value!r}"))
    children = tuple(_from_pb(c, param.children, where, problems) for c in item.children)
    return Entry(item.keyword, value, 0, children)


def _error(path: str, message: str) -> ConfigError:
    return ConfigError([Problem(path, 0, message)])
