"""This node's copy of the replicated package switching flags (AUTO_RUN, node
switching, failure history), kept across cmcld restarts."""

import logging

from google.protobuf.message import DecodeError

from cluster.atomicfile import write_atomic
from cluster.paths import HostPaths
from cluster.pb.v1 import package_pb2

log = logging.getLogger("cmcld.packages")


def load_flags(paths: HostPaths) -> package_pb2.PackageFlags:
    flags = package_pb2.PackageFlags()
    try:
        flags.ParseFromString((paths.state_dir / "package_flags.pb").read_bytes())
    except FileNotFoundError:
        pass
    except DecodeError as exc:  # a damaged file: start from the configuration's flags
        log.error(
            "%s unreadable (%s): switching flags start from the configuration",
            paths.state_dir / "package_flags.pb",
            exc,
        )
        flags = package_pb2.PackageFlags()
    return flags


def save_flags(paths: HostPaths, flags: package_pb2.PackageFlags) -> None:
    paths.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(paths.state_dir / "package_flags.pb", flags.SerializeToString(), mode=0o600)


MAX_FLAG_SEQ = 1 << 32  # far beyond what one coordinator's changes in one epoch reach


def replaces(kept: package_pb2.PackageFlags, new: package_pb2.PackageFlags, epoch: int) -> bool:
    """Whether `new` flags replace the `kept` ones on a node in `epoch`: newer, and
    possible (flags are versioned by the epoch of the coordinator that set them, and
    one coordinator changes them a few times)."""
    if new.epoch > epoch or new.seq > MAX_FLAG_SEQ:
        log.warning(
            "ignored package flags of epoch %d seq %d: this node is in epoch %d",
            new.epoch,
            new.seq,
            epoch,
        )
        return False
    # Flags kept from a future epoch (written before this check existed) are stale.
    kept_sane = kept.epoch <= epoch and kept.seq <= MAX_FLAG_SEQ
    return not (kept_sane and (new.epoch, new.seq) <= (kept.epoch, kept.seq))
