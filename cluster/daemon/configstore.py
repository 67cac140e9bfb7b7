"""This node's applied configuration (cmclconfig) and the one staged by a cmapplyconf.

cmclconfig holds a ConfigBlob: generation, SHA-256 digest, configuration. Generations
only grow: deleting the configuration (cmdeleteconf) writes a *tombstone*, a newer
generation with no configuration, so a node that was down and comes back with an
older configuration can never win over the deletion. Every write is atomic, fsync'd and
private (0600: it is the whole configuration); a blob is only ever accepted with a
matching digest.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cluster.atomicfile import write_atomic
from cluster.config.compile import (
    blob_bytes,
    decode_config,
    digest_of,
    read_blob,
    verify_digest,
)
from cluster.config.model import Config
from cluster.config.problems import ConfigError
from cluster.errors import CmError
from cluster.hostfiles import (
    MAX_BINARY_CONFIG,
    PRIVATE,
    RefusedFile,
    make_private,
    make_private_tree,
    read_regular,
)
from cluster.paths import HostPaths
from cluster.pb.v1 import config_pb2 as pb

log = logging.getLogger("cmcld.config")

STAGED = "staged.cmclconfig"


def _private(path: Path) -> list[tuple[Path, int]]:
    old = make_private(path)
    return [] if old is None else [(path, old)]


def is_tombstone(blob: pb.ConfigBlob) -> bool:
    return blob.generation > 0 and not blob.config


def tombstone(generation: int, applied_by: str, applied_at_ms: int) -> pb.ConfigBlob:
    """The blob of a deleted configuration: a generation with nothing in it."""
    return pb.ConfigBlob(
        generation=generation,
        digest=digest_of(b""),
        applied_by=applied_by,
        applied_at_unix_ms=applied_at_ms,
    )


STAGE_EXPIRY = 120.0  # seconds a staged change blocks another coordinator's change


@dataclass(frozen=True)
class Staged:
    transaction: str
    coordinator: str
    blob: pb.ConfigBlob
    since: float = 0.0  # monotonic time it was staged; 0 when read back after a restart


class ConfigStore:
    """The applied and staged configuration of one node. Not thread-safe: the daemon
    calls it from its event loop only."""

    def __init__(self, paths: HostPaths) -> None:
        self._path = paths.cmclconfig
        self._state_dir = paths.state_dir
        self._staged_path = paths.state_dir / STAGED
        self.blob: pb.ConfigBlob | None = None
        self.config: Config | None = None
        self.staged: Staged | None = None
        self.listeners: list[Callable[[], None]] = []  # told after the applied one changed

    # -- reading ---------------------------------------------------------------------

    def load(self) -> None:
        """Read cmclconfig and any staged blob, after making them and the state files
        private (an older version wrote cmclconfig 0644).

        An unusable cmclconfig raises CmError: starting without it would put this node
        silently outside its cluster, and an unconfigured node cannot fetch the
        configuration by itself (it knows no peers to ask). A bad staged blob is
        dropped: nothing was decided on it here, and the coordinator retries or aborts.
        """
        self.blob, self.config = None, None
        for path, mode in [*make_private_tree(self._state_dir), *_private(self._path)]:
            log.warning(
                "%s was open to group or others (mode %04o): made private (%04o)",
                path,
                mode,
                mode & 0o700,
            )
        try:
            data = read_regular(self._path, MAX_BINARY_CONFIG)
        except FileNotFoundError:
            data = None
        except RefusedFile as exc:
            raise CmError(self._unusable(str(exc))) from None
        except OSError as exc:
            raise CmError(f"{self._path}: cannot read: {exc.strerror or exc}") from None
        if data is not None:
            try:
                self._set(read_blob(data, str(self._path)))
            except ConfigError as exc:
                raise CmError(self._unusable("; ".join(p.message for p in exc.problems))) from None
        self.staged = self._load_staged()

    def _unusable(self, reason: str) -> str:
        return (
            f"{self._path}: unusable binary configuration ({reason}); refusing to start "
            "outside the cluster. Copy it from a running member (every node has the same "
            f"file; a node then catches up to newer generations by itself) with mode 0600, "
            "or, only to take this node out of the cluster, move it away"
        )

    def _load_staged(self) -> Staged | None:
        try:
            data = read_regular(self._staged_path, MAX_BINARY_CONFIG)
        except FileNotFoundError:
            return None
        except (RefusedFile, OSError) as exc:
            log.error("discarding unreadable staged configuration %s: %s", self._staged_path, exc)
            self._staged_path.unlink(missing_ok=True)
            return None
        request = pb.StageConfigRequest()
        try:
            request.ParseFromString(data)
            verify_digest(request.blob, str(self._staged_path))
        except Exception as exc:  # DecodeError or ConfigError: unusable either way
            log.error("discarding unreadable staged configuration %s: %s", self._staged_path, exc)
            self._staged_path.unlink(missing_ok=True)
            return None
        return Staged(request.transaction, request.coordinator, request.blob)

    def _set(self, blob: pb.ConfigBlob) -> None:
        config = None if is_tombstone(blob) else decode_config(blob, str(self._path))
        self.blob, self.config = blob, config
        for listener in self.listeners:
            listener()

    @property
    def generation(self) -> int:
        return self.blob.generation if self.blob is not None else 0

    @property
    def cluster_name(self) -> str:
        return self.config.cluster.name if self.config else ""

    # -- changing --------------------------------------------------------------------

    def stage(self, transaction: str, coordinator: str, expected: int, blob: pb.ConfigBlob) -> None:
        """Phase 1: keep `blob` durably, ready to commit. Refused when this node's
        generation is not the one the coordinator based its change on."""
        if expected != self.generation:
            raise CmError(
                f"this node has configuration generation {self.generation}, not "
                f"{expected}: another change was applied meanwhile; check again"
            )
        other = self.staged
        if (
            other is not None
            and other.coordinator != coordinator
            and other.since
            and time.monotonic() - other.since < STAGE_EXPIRY
        ):
            raise CmError(
                f"another configuration change, from node {other.coordinator}, is in "
                "progress; try again when it has finished"
            )
        if blob.generation <= self.generation:
            raise CmError(
                f"generation {blob.generation} is not newer than this node's {self.generation}"
            )
        try:
            verify_digest(blob, "staged configuration")
            if not is_tombstone(blob):
                decode_config(blob, "staged configuration")
        except ConfigError as exc:
            raise CmError(str(exc)) from None
        request = pb.StageConfigRequest(
            transaction=transaction,
            coordinator=coordinator,
            expected_generation=expected,
            blob=blob,
        )
        self._staged_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self._staged_path, request.SerializeToString(deterministic=True), PRIVATE)
        self.staged = Staged(transaction, coordinator, blob, time.monotonic())

    def commit(self, transaction: str, generation: int) -> bool:
        """Phase 2: make the staged blob the applied configuration; False when it was
        committed already (a retried commit, or caught up meanwhile)."""
        staged = self.staged
        if staged is None or staged.transaction != transaction:
            if self.generation >= generation:
                return False
            raise CmError(f"nothing staged for transaction {transaction}")
        if staged.blob.generation != generation:
            raise CmError(
                f"staged generation is {staged.blob.generation}, commit asks {generation}"
            )
        self._write(staged.blob)
        self._drop_staged()
        return True

    def abort(self, transaction: str) -> bool:
        if self.staged is None or self.staged.transaction != transaction:
            return False
        self._drop_staged()
        return True

    def adopt(self, blob: pb.ConfigBlob) -> bool:
        """Catch up: take `blob` when it is newer (digest checked). True if taken."""
        if blob.generation <= self.generation:
            return False
        try:
            verify_digest(blob, "fetched configuration")
            if not is_tombstone(blob):
                decode_config(blob, "fetched configuration")
        except ConfigError as exc:
            raise CmError(str(exc)) from None
        self._write(blob)
        if self.staged is not None and self.staged.blob.generation <= blob.generation:
            self._drop_staged()
        return True

    def _write(self, blob: pb.ConfigBlob) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self._path, blob_bytes(blob), PRIVATE)  # the whole configuration
        self._set(blob)

    def _drop_staged(self) -> None:
        self._staged_path.unlink(missing_ok=True)
        self.staged = None
