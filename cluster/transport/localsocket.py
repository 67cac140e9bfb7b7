"""The admin socket's front door: who is on the other end is asked of the kernel.

Whoever reaches cmcld's local socket acts as root, so file modes alone are not enough
(loosened by mistake, a 0666 socket gave uid 1001 full_admin). cmcld serves the admin
socket itself: for each connection it reads the peer's credentials (SO_PEERCRED),
closes it at once unless the peer is root or a member of the admin group configured
with `cmcld --admin-group`, and otherwise relays its bytes to gRPC's own socket in a
private directory. The relay binds its end of each relayed connection to a fresh
name in that directory, which gRPC reports as the peer ("unix:DIR/c17"); that name
is how the authorizer learns who is behind a call. A connection made to gRPC's socket
any other way has no such name and is refused (transport/auth.py).
"""

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import shutil
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import CmError
from cluster.security.identity import Identity, Kind, local_root
from cluster.transport.stats import TransportStats

log = logging.getLogger("cmcld.auth")

LOCAL_REFUSED = "local_connections_refused"
_CREDS = struct.Struct("3i")  # struct ucred: pid, uid, gid
_CHUNK = 1 << 16


@dataclass(frozen=True)
class PeerCred:
    pid: int
    uid: int
    gid: int


def peer_cred(sock: socket.socket) -> PeerCred:
    pid, uid, gid = _CREDS.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return PeerCred(pid, uid, gid)


def admin_group_id(name: str) -> int:
    """The gid of `--admin-group`; raises CmError for a group that does not exist."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise CmError(f"--admin-group {name!r}: no such group on this host") from None


class AdminSocket:
    """Listens on `path`; relays admitted connections to the gRPC socket `inner`."""

    def __init__(
        self, path: Path, node: str, stats: TransportStats, admin_gid: int | None = None
    ) -> None:
        self.path = path
        self._node = node
        self._stats = stats
        self._gid = admin_gid
        self._dir = path.parent / ".grpc"
        self.inner = self._dir / "cmcld.sock"
        self._peers: dict[str, Identity] = {}
        self._count = 0
        self._server: asyncio.AbstractServer | None = None
        self._relays: set[asyncio.Task[None]] = set()

    def prepare(self) -> str:
        """Make the private directory for gRPC's socket; returns gRPC's address."""
        _private_dir(self.path.parent, self._gid)
        shutil.rmtree(self._dir, ignore_errors=True)
        _private_dir(self._dir, None)
        return f"unix:{self.inner}"

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))
        except OSError as exc:
            raise CmError(f"cannot listen on {self.path}: {exc.strerror}") from None
        if self._gid is None:
            os.chmod(self.path, 0o600)
        else:
            os.chown(self.path, 0, self._gid)
            os.chmod(self.path, 0o660)

    def identity(self, peer: str) -> Identity | None:
        """Who is behind a relayed connection, from the name gRPC reports as its peer."""
        return self._peers.get(peer.removeprefix("unix:"))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _who(self, cred: PeerCred) -> Identity | None:
        if cred.uid == 0:
            return local_root(self._node)
        if self._gid is None:
            return None
        try:
            user = pwd.getpwuid(cred.uid)
        except KeyError:
            return None
        if self._gid != cred.gid and self._gid not in os.getgrouplist(user.pw_name, cred.gid):
            return None
        return Identity(Kind.LOCAL_USER, user.pw_name)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._relays.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock: socket.socket = writer.get_extra_info("socket")
        cred = peer_cred(sock)
        identity = self._who(cred)
        if identity is None:
            count = self._stats.add(LOCAL_REFUSED)
            log.warning(
                "refused a connection to the admin socket from uid %d (pid %d; %d refused "
                "since start): only root%s may use it",
                cred.uid,
                cred.pid,
                count,
                " and the admin group" if self._gid is not None else "",
            )
            return
        self._count += 1
        name = str(self._dir / f"c{self._count}")
        inner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            inner.bind(name)
            inner.setblocking(False)
            self._peers[name] = identity
            await asyncio.get_running_loop().sock_connect(inner, str(self.inner))
            inner_reader, inner_writer = await asyncio.open_unix_connection(sock=inner)
        except OSError:
            inner.close()
            self._forget(name)
            raise
        try:
            await asyncio.gather(_pipe(reader, inner_writer), _pipe(inner_reader, writer))
        finally:
            inner_writer.close()
            self._forget(name)

    def _forget(self, name: str) -> None:
        self._peers.pop(name, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    finally:
        with contextlib.suppress(OSError):
            if sink.can_write_eof():
                sink.write_eof()


def _private_dir(directory: Path, gid: int | None) -> None:
    """Root's directory (0700), or root and the admin group's (0750)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_uid != os.geteuid():
        raise CmError(f"{directory}: owned by another user; refusing to serve the admin socket")
    if gid is None:
        os.chmod(directory, 0o700)
    else:
        os.chown(directory, os.geteuid(), gid)
        os.chmod(directory, 0o750)
