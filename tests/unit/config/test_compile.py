"""The binary form: deterministic, digest-checked, read back against the declarations."""

import pytest

from cluster.config.compile import (
    blob_bytes,
    compile_config,
    config_from_pb,
    decode_config,
    make_blob,
    read_blob,
    serialize,
)
from cluster.config.problems import ConfigError
from cluster.pb.v1 import config_pb2 as pb

from .helpers import THREE_NODES, config

PKG_B = "package_name b-pkg\nnode_name b\n"
PKG_A = "package_name a-pkg\nnode_name a\nservice_name s\nservice_cmd /bin/s\n"


def test_packages_sorted_generation_and_metadata_kept() -> None:
    cfg = config(THREE_NODES, PKG_B, PKG_A)
    blob = make_blob(cfg, generation=42, applied_by="user root", applied_at_ms=1234)
    message = pb.ClusterConfig.FromString(blob.config)
    assert [p.package_name for p in message.packages] == ["a-pkg", "b-pkg"]
    again = read_blob(blob_bytes(blob))
    assert (again.generation, again.applied_by, again.applied_at_unix_ms) == (42, "user root", 1234)
    assert decode_config(again) == cfg


def test_file_order_does_not_change_the_bytes() -> None:
    one = config(THREE_NODES + "MEMBER_TIMEOUT 20s\nMAX_CONFIGURED_PACKAGES 9\n", PKG_A)
    two = config("MAX_CONFIGURED_PACKAGES 9\nMEMBER_TIMEOUT 20000000\n" + THREE_NODES, PKG_A)
    assert serialize(compile_config(one)) == serialize(compile_config(two))


def test_a_corrupted_blob_is_refused() -> None:
    blob = make_blob(config(THREE_NODES), generation=5)
    blob.config = blob.config[:-1] + bytes([blob.config[-1] ^ 1])
    with pytest.raises(ConfigError, match="generation 5: the digest does not match"):
        read_blob(blob_bytes(blob))
    with pytest.raises(ConfigError, match="not a cmcluster binary configuration"):
        read_blob(b"\xff\xff\xff")


def test_stored_entries_are_checked_against_the_declarations() -> None:
    message = compile_config(config(THREE_NODES))
    message.entries.add(keyword="FUTURE_PARAMETER", text="x")
    timeout = next(e for e in message.entries if e.keyword == "MEMBER_TIMEOUT")
    timeout.text = "soon"
    with pytest.raises(ConfigError) as caught:
        config_from_pb(message, "cmclconfig")
    assert [p.message for p in caught.value.problems] == [
        "MEMBER_TIMEOUT: bad stored value 'soon' ('soon' is not a time)",
        "unknown parameter 'FUTURE_PARAMETER' (written by a newer cmcluster?)",
    ]
