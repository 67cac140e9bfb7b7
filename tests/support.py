"""Helpers shared by the tests: a cluster CA on disk, and cmcld as a real process.

cmcld is started with port 0 and NOTIFY_SOCKET pointing at a datagram socket the test
holds: its READY=1 / STATUS=serving on HOST:PORT message says when it is up and which
port it bound, with no sleeps and no port races.
"""

import datetime as dt
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.paths import HostPaths
from cluster.security import ca
from cluster.security.identity import Identity, Kind, Role

if TYPE_CHECKING:
    from cluster.transport.auth import FixedAuthority

REPO = Path(__file__).resolve().parent.parent
ZIPAPP = REPO / "dist" / "cmcluster.pyz"
SOURCE_COMMAND = [sys.executable, "-m", "cluster"]
ZIPAPP_FLAGS = ("-sES",)  # the zipapp's shebang: `#!/usr/bin/env -S python3 -sES`


@functools.cache
def host_python() -> str:
    """The interpreter that `python3` on PATH runs, resolved once.

    On this machine `python3` is a pyenv shim, a shell script that costs ~50 ms per
    start; a Debian host runs /usr/bin/python3 directly. Lab hosts run the zipapp and
    the lab's Python apps with the resolved interpreter, so a figure that includes a
    command's or a service's start-up (a manual switch) does not carry the shim."""
    found = shutil.which("python3")
    if found is None:
        return sys.executable
    try:
        result = subprocess.run(
            [found, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return found
    return result.stdout.strip() or found


def zipapp_command() -> list[str]:
    """The built zipapp as its shebang runs it, minus the PATH lookup (host_python)."""
    return [host_python(), *ZIPAPP_FLAGS, str(ZIPAPP)]


@dataclass
class ClusterCA:
    """A cluster CA in `directory` with helpers to issue bundles from it."""

    directory: Path
    authority: ca.CertificateAuthority

    @classmethod
    def create(cls, directory: Path, cluster: str = "test") -> "ClusterCA":
        return cls(directory, ca.init_ca(directory, cluster))

    def bundle(
        self,
        out: Path,
        *,
        node: str | None = None,
        user: str | None = None,
        role: Role | None = None,
        days: int = 365,  # more than the 30 days before expiry warnings start
        not_before: dt.datetime | None = None,
    ) -> Path:
        identity = Identity(Kind.NODE, node) if node else Identity(Kind.USER, str(user), role)
        issued = ca.issue(self.authority, identity, days=days, not_before=not_before)
        ca.write_private(out, ca.bundle_bytes(issued, self.authority), force=True)
        return out

    def expired_user(self, out: Path, user: str = "old", role: Role = Role.FULL_ADMIN) -> Path:
        """A real certificate of this CA whose validity ended yesterday."""
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        return self.bundle(out, user=user, role=role, days=2, not_before=start)

    def install_node(self, root: Path, node: str) -> HostPaths:
        from cluster.security.bundle import install_node_bundle

        paths = HostPaths(root)
        bundle = self.bundle(root.parent / f"{root.name}-{node}.pem", node=node)
        install_node_bundle(paths, bundle, node, force=True)
        return paths


@dataclass
class Daemon:
    """One cmcld process with its own CMCLUSTER_ROOT."""

    root: Path
    node: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    program: str = "cmcld"

    @property
    def paths(self) -> HostPaths:
        return HostPaths(self.root)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def log(self) -> str:
        name = "cmqsd.log" if self.program == "cmqsd" else "cmcld.log"
        try:
            return (self.paths.log_dir / name).read_text()
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in cmcld.log after {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def command_env(root: Path, node: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMCLUSTER_")}
    env.update(CMCLUSTER_ROOT=str(root), CMCLUSTER_NODE=node, **extra)
    return env


def start_daemon(
    root: Path,
    node: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    command: Sequence[str] = SOURCE_COMMAND,
    extra_args: Sequence[str] = (),
    timeout: float = 20.0,
    wrap: Sequence[str] = (),
    env_extra: Mapping[str, str] | None = None,
    program: str = "cmcld",
) -> Daemon:
    """Start cmcld and wait for its READY=1; raises with its output if it fails.

    `wrap` prefixes the command, e.g. `ip netns exec NS` to run it on a lab host."""
    notify_path = root.parent / f".{root.name}.notify"
    notify_path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(0.2)
    env = command_env(root, node, NOTIFY_SOCKET=str(notify_path), **dict(env_extra or {}))
    argv = [*wrap, *command, program, "--listen", f"{host}:{port}", "--no-syslog", *extra_args]
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=root.parent
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = listener.recv(4096).decode()
            except TimeoutError:
                if process.poll() is not None:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise AssertionError(
                        f"{program} exited with {process.returncode}:\n{output}"
                    ) from None
                continue
            fields = dict(line.split("=", 1) for line in message.splitlines() if "=" in line)
            if fields.get("READY") == "1":
                bound = fields["STATUS"].rsplit(":", 1)[1]
                return Daemon(root, node, process, host, int(bound), env, program)
        process.kill()
        raise AssertionError(f"{program} did not report READY within {timeout} s")
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        raise
    finally:
        listener.close()
        notify_path.unlink(missing_ok=True)


@dataclass
class Result:
    status: int
    out: str
    err: str


def run(
    argv: Sequence[str],
    env: dict[str, str],
    command: Sequence[str] = SOURCE_COMMAND,
    timeout: float = 60.0,
    cwd: Path | None = None,
) -> Result:
    done = subprocess.run(
        [*command, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def members(*nodes: str) -> "FixedAuthority":
    """An authority for in-process servers: a configured cluster of `nodes`, with no
    running membership and no access-control policy."""
    from cluster.security.authorization import Standing
    from cluster.transport.auth import FixedAuthority

    return FixedAuthority(Standing(frozenset(nodes), generation=1))
