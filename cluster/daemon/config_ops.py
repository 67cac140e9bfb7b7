"""Configuration operations of cmcld: the node side of distribution, and the checks
and changes operators ask for (cmcheckconf, cmapplyconf, cmdeleteconf, cmgetconf)."""

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

from cluster.config.check import check_config
from cluster.config.compile import compile_config, config_from_pb, decode_config
from cluster.config.files import FileStatus, NodeFiles, local_status, needed_files
from cluster.config.model import Config
from cluster.config.online import Running, online_refusals
from cluster.config.problems import ConfigError, Problem
from cluster.config.source import cluster_from_pb, package_from_pb
from cluster.core.model import Interface
from cluster.daemon.background import Background
from cluster.daemon.configstore import ConfigStore, is_tombstone
from cluster.daemon.distribute import Distributor, node_addresses
from cluster.daemon.peertrust import PeerTrust
from cluster.errors import CmError, FieldError, NotAuthorized
from cluster.network.interfaces import read_interfaces
from cluster.pb.v1 import config_pb2 as pb
from cluster.security.identity import Identity
from cluster.transport.peers import PeerDialer

log = logging.getLogger("cmcld.config")

CHECK_FILES_TIMEOUT = 10.0


class PeerChecker:
    """Asks each node's cmcld whether scripts exist there (CheckFiles) and which
    interfaces it has (GetNodeInfo). Called from a worker thread by the synchronous
    checks, so it hops onto the daemon's loop for the RPCs."""

    def __init__(
        self,
        node: str,
        peers: PeerDialer,
        loop: asyncio.AbstractEventLoop,
        configs: Sequence[Config | None],
    ) -> None:
        self._node, self._peers, self._loop, self._configs = node, peers, loop, configs

    def interfaces(self, nodes: Sequence[str]) -> Mapping[str, Sequence[Interface] | str]:
        future = asyncio.run_coroutine_threadsafe(self._interfaces_of(nodes), self._loop)
        return future.result(timeout=CHECK_FILES_TIMEOUT + 5)

    async def _interfaces_of(self, nodes: Sequence[str]) -> dict[str, Sequence[Interface] | str]:
        answers = await asyncio.gather(*(self._interfaces(n) for n in nodes))
        return dict(zip(nodes, answers, strict=True))

    async def _interfaces(self, node: str) -> Sequence[Interface] | str:
        if node == self._node:
            return await asyncio.to_thread(read_interfaces)
        try:
            info = await self._peers.node_info(
                node, node_addresses(node, *self._configs), CHECK_FILES_TIMEOUT
            )
        except CmError as exc:
            return str(exc)
        return info.interfaces

    def check(self, wanted: Mapping[str, Sequence[str]]) -> Mapping[str, NodeFiles]:
        future = asyncio.run_coroutine_threadsafe(self._ask_all(wanted), self._loop)
        return future.result(timeout=CHECK_FILES_TIMEOUT + 5)

    async def _ask_all(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, NodeFiles]:
        names = list(wanted)
        answers = await asyncio.gather(*(self._ask(n, wanted[n]) for n in names))
        return dict(zip(names, answers, strict=True))

    async def _ask(self, node: str, paths: Sequence[str]) -> NodeFiles:
        if node == self._node:
            return NodeFiles({p: local_status(p) for p in paths})
        candidate = self._configs[0]
        if candidate is None:
            return NodeFiles(error="no configuration to ask about")
        try:
            reply = await self._peers.call(
                node,
                node_addresses(node, *self._configs),
                "CheckFiles",
                pb.CheckFilesRequest(candidate=compile_config(candidate)),
                CHECK_FILES_TIMEOUT,
            )
        except CmError as exc:
            return NodeFiles(error=str(exc))
        return NodeFiles({f.path: FileStatus(f.exists, f.executable) for f in reply.files})


class ConfigService:
    def __init__(
        self,
        node: str,
        store: ConfigStore,
        *,
        peers: PeerDialer,
        background: Background,
        running: Callable[[], Running | None],
        cluster_running: Callable[[], Awaitable[Running | None]],
        trust: PeerTrust,
    ) -> None:
        self._node = node
        self._store = store
        self._peers = peers
        self._background = background
        self._running = running  # what this node knows; None while no cluster runs
        self._cluster_running = cluster_running  # asked of every member
        self._trust = trust
        self.distributor = Distributor(node, store, peers)

    # -- between nodes -----------------------------------------------------------------

    def stage_config(self, caller: str, request: pb.StageConfigRequest) -> int:
        """Phase 1 of a change coordinated by `caller`. A configured node takes it only
        from a node of its applied configuration (the transport checked that already);
        a node with no configuration only a candidate naming both it and the caller."""
        if caller != request.coordinator:
            raise NotAuthorized(f"node {caller} may only stage changes it coordinates")
        if self._store.config is not None:
            if caller not in self._store.config.cluster.node_names:
                raise NotAuthorized(f"node {caller} is not a node of this configuration")
        elif is_tombstone(request.blob):
            raise NotAuthorized(f"this node has no configuration for {caller} to delete")
        else:
            try:
                candidate = decode_config(request.blob, "staged configuration")
            except ConfigError as exc:
                raise FieldError("blob", str(exc)) from None
            self._invited(caller, candidate, "stage a configuration")
        self._refuse_here(request.blob)
        self._store.stage(request.transaction, caller, request.expected_generation, request.blob)
        log.info(
            "staged configuration generation %d from %s (transaction %s)",
            request.blob.generation,
            caller,
            request.transaction,
        )
        return self._store.generation

    def _invited(self, caller: str, candidate: Config, what: str) -> None:
        """The newcomer's exception (DESIGN.md §4): with no configuration of its own,
        this node lets a node prepare it only for a configuration naming both."""
        names = candidate.cluster.node_names
        missing = [n for n in (caller, self._node) if n not in names]
        if missing:
            raise NotAuthorized(
                f"node {caller} may not {what} here: this node has no configuration, and "
                f"the candidate configuration does not name {' or '.join(missing)}"
            )

    def commit_config(self, caller: str, request: pb.CommitConfigRequest) -> int:
        staged = self._store.staged
        if (
            staged is not None
            and staged.transaction == request.transaction
            and staged.coordinator != caller
        ):
            raise NotAuthorized(
                f"transaction {request.transaction} belongs to {staged.coordinator}"
            )
        if self._store.commit(request.transaction, request.generation):
            log.info("committed configuration generation %d (from %s)", request.generation, caller)
        return self._store.generation

    def abort_config(self, caller: str, transaction: str) -> None:
        staged = self._store.staged
        if (
            staged is not None
            and staged.transaction == transaction
            and staged.coordinator != caller
        ):
            raise NotAuthorized(f"transaction {transaction} belongs to {staged.coordinator}")
        if self._store.abort(transaction):
            log.info("aborted staged configuration (transaction %s, from %s)", transaction, caller)

    def fetch_config(self, newer_than: int) -> pb.ConfigBlob | None:
        blob = self._store.blob
        return blob if blob is not None and blob.generation > newer_than else None

    def check_files(self, caller: str, candidate: pb.ClusterConfig) -> list[tuple[str, FileStatus]]:
        """The status of the files `candidate` needs on this node, and of no other:
        a caller learns nothing about paths the configuration under check does not
        name for this node."""
        try:
            config = config_from_pb(candidate, "candidate configuration")
        except ConfigError as exc:
            raise FieldError("candidate", str(exc)) from None
        if self._store.config is None:
            self._invited(caller, config, "ask about files")
        paths = dict.fromkeys(f.path for f in needed_files(config) if self._node in f.nodes)
        return [(p, local_status(p)) for p in paths]

    # -- for operators -----------------------------------------------------------------

    async def _check(
        self, request: pb.CheckConfigRequest, deleted: Sequence[str] = ()
    ) -> tuple[list[Problem], Config | None]:
        """Check twice when the files parse: the second pass asks the nodes, found at the
        addresses of the configuration being checked, for the scripts it names and, with
        a cluster file, for its interfaces and addresses."""
        cluster = cluster_from_pb(request.cluster) if request.HasField("cluster") else None
        packages = [package_from_pb(p) for p in request.packages]
        applied = self._store.config
        first = await asyncio.to_thread(check_config, cluster, packages, None, applied, deleted)
        if not first.ok:
            return list(first.problems), None
        checker = PeerChecker(
            self._node, self._peers, asyncio.get_running_loop(), (first.config, applied)
        )
        result = await asyncio.to_thread(
            check_config, cluster, packages, checker, applied, deleted, network_checker=checker
        )
        return list(result.problems), result.config

    async def check_config(self, request: pb.CheckConfigRequest) -> list[Problem]:
        problems, _ = await self._check(request)
        return problems

    def apply_config(self, request: pb.ApplyConfigRequest, caller: Identity) -> AsyncIterator[str]:
        apply = self._apply(request.sources, caller, crl=request.revocation_list)
        return self._background.detach(apply, "cmapplyconf")

    async def _apply(
        self,
        sources: pb.CheckConfigRequest,
        caller: Identity,
        deleted: Sequence[str] = (),
        crl: bytes = b"",
    ) -> AsyncIterator[str]:
        problems, config = await self._check(sources, deleted)
        if config is None or any(not p.warning for p in problems):
            raise ConfigError(problems)
        for warning in problems:
            yield str(warning)
        # The revocation lists in force stay with every later configuration; a newer
        # one (cmapplyconf --crl) replaces its CA's, never an older one.
        applied = self._store.config
        current = applied.revocation_list if applied is not None else b""
        lists = self._trust.successor(current, crl, "--crl") if crl else current
        # The cluster id is made once, by the first cmapplyconf of the cluster.
        cluster_id = applied.cluster_id if applied is not None else ""
        cluster_id = cluster_id or secrets.token_hex(8)
        config = dataclasses.replace(config, revocation_list=lists, cluster_id=cluster_id)
        if config == self._store.config:
            yield f"The configuration is unchanged (generation {self._store.generation})"
            return
        await self._refuse_offline_changes(config)
        async for line in self.distributor.apply(config, str(caller)):
            yield line

    def _refuse_here(self, blob: pb.ConfigBlob) -> None:
        """Every node checks a staged change against what it runs itself (and, on the
        coordinator, what it placed): the node that runs a package is the authority on
        it, so a change gathered wrongly elsewhere is still refused here."""
        applied, running = self._store.config, self._running()
        if applied is None or running is None:
            return
        if is_tombstone(blob):
            raise CmError(f"the cluster is running on {self._node}: halt it with cmhaltcl first")
        try:
            candidate = decode_config(blob, "staged configuration")
        except ConfigError as exc:
            raise FieldError("blob", str(exc)) from None
        refusals = online_refusals(applied, candidate, running)
        if refusals:
            raise ConfigError(refusals)

    async def _refuse_offline_changes(self, new: Config | None) -> None:
        """The online-change rules against where packages run in the whole cluster, as
        every member reports it (refused when a member does not answer)."""
        if self._store.config is None or self._running() is None:
            return
        running = await self._cluster_running()
        if running is None:
            return
        if new is None:
            raise CmError(
                "the cluster is running: halt it with cmhaltcl before deleting its configuration"
            )
        refusals = online_refusals(self._store.config, new, running)
        if refusals:
            raise ConfigError(refusals)

    def delete_config(self, package: str, caller: Identity) -> AsyncIterator[str]:
        return self._background.detach(self._delete(package, caller), "cmdeleteconf")

    async def _delete(self, package: str, caller: Identity) -> AsyncIterator[str]:
        config = self._store.config
        if config is None:
            raise CmError("no configuration is applied on this node")
        if not package:
            await self._refuse_offline_changes(None)
            async for line in self.distributor.apply(None, str(caller)):
                yield line
            return
        if config.package(package) is None:
            raise CmError(f"no package {package!r} in the applied configuration")
        async for line in self._apply(pb.CheckConfigRequest(), caller, deleted=[package]):
            yield line

    def applied_config(self) -> pb.ConfigBlob | None:
        return self._store.blob
