"""A lab of hosts on this machine: one network namespace per host, joined by a bridge.

    switch namespace  <prefix>-sw   bridge br0
    host namespaces   <prefix>-<name>  eth0 198.18.0.<10+i>/24 (veth to the bridge)
    client namespace  <prefix>-client  eth0 198.18.0.250/24

Veths are created inside the switch namespace so nothing appears in the machine's own
namespace (NOTES.md). Each host resolves the others by name through
/etc/netns/<namespace>/hosts, which `ip netns exec` mounts over /etc/hosts. Every name
carries a per-run prefix; `close()` kills the processes the lab started (by PID),
deletes the namespaces and the hosts files, also after a failure.
Addresses come from 198.18.0.0/15 only and never leave the namespaces.
"""

import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support import Daemon

SUBNET = "198.18.0"
PREFIX_LEN = 24
NETNS_ETC = Path("/etc/netns")


class LabError(RuntimeError):
    pass


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Host:
    name: str
    namespace: str
    address: str

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *command]


@dataclass
class Lab:
    prefix: str = field(default_factory=lambda: "cm" + secrets.token_hex(3))
    hosts: dict[str, Host] = field(default_factory=dict)
    client: Host | None = None
    _namespaces: list[str] = field(default_factory=list)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    def __enter__(self) -> "Lab":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self._namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def build(self, names: Sequence[str], client: bool = True) -> "Lab":
        """Create the switch and one host per name (in order: .10, .11, ...)."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces)")
        if shutil.which("ip") is None:
            raise LabError("the lab needs iproute2 (the ip command)")
        self._add_namespace(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        members = [(name, f"{SUBNET}.{10 + i}") for i, name in enumerate(names)]
        if client:
            members.append(("client", f"{SUBNET}.250"))
        for index, (name, address) in enumerate(members):
            host = Host(name, f"{self.prefix}-{name}", address)
            self._add_namespace(host.namespace)
            port = f"v{index}"
            ip(
                "-n",
                self.switch,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                host.namespace,
            )
            ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            ip("-n", host.namespace, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", "eth0")
            ip("-n", host.namespace, "link", "set", "eth0", "up")
            if name == "client":
                self.client = host
            else:
                self.hosts[name] = host
        self._write_hosts_files()
        return self

    def _write_hosts_files(self) -> None:
        lines = ["127.0.0.1 localhost"]
        lines += [f"{h.address} {h.name}" for h in self.hosts.values()]
        text = "\n".join(lines) + "\n"
        for namespace in self._namespaces:
            directory = NETNS_ETC / namespace
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "hosts").write_text(text)

    def start(
        self, host: str, command: Sequence[str], env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start a process inside a host's namespace; its PID is the command's own
        (`ip netns exec` execs it), so the lab kills exactly what it started."""
        target = self.client if host == "client" else self.hosts[host]
        assert target is not None
        with log.open("ab") as out:
            process = subprocess.Popen(
                target.argv(command), env=dict(env), stdout=out, stderr=subprocess.STDOUT
            )
        self._processes.append(process)
        return process

    def start_daemon(self, host: str, root: Path, node: str, command: Sequence[str]) -> "Daemon":
        """cmcld on a lab host, listening on the cluster port of all its addresses."""
        from cluster.paths import DEFAULT_PORT
        from tests.support import start_daemon

        daemon = start_daemon(
            root,
            node,
            host="0.0.0.0",
            port=DEFAULT_PORT,
            command=command,
            wrap=self.hosts[host].argv([]),
        )
        self._processes.append(daemon.process)
        return daemon

    def run(
        self, host: str, command: Sequence[str], env: Mapping[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        target = self.client if host == "client" else self.hosts[host]
        assert target is not None
        return subprocess.run(
            target.argv(command),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._processes.clear()
        for namespace in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
            shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)
        self._namespaces.clear()
