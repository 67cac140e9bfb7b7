"""A lab of hosts on this machine: each host is a network, mount and UTS namespace.

    switch namespace   <prefix>-sw       one bridge per network (br-lan, br-hb, ...)
    host namespaces    <prefix>-<name>   eth0 on "lan" 198.18.0.<10+i>/24,
                                         eth1 on "hb"  198.18.1.<10+i>/24, ...
    client namespace   <prefix>-client   eth0 on "lan" 198.18.0.250/24

Veths are created inside the switch namespace so nothing appears in the machine's own
namespace (NOTES.md). Each host also has a persistent mount namespace (so what its
daemon mounts stays visible to the host's later commands and to nobody else), its own
sysfs, /etc/hosts (listing every host by name) and host name.

Faults: `link_down`, `detach` (bridge port leaves the bridge), `cut` (nftables drop
rules inside host namespaces: both ways, one way, or lossy with numgen random),
`pause`/`resume`/`kill` of a process by PID.

Every name carries a per-run prefix; `close()` kills the processes the lab started (by
PID), removes nftables tables, namespaces and files, also after a failure. Addresses
come from 198.18.0.0/15 only and never leave the namespaces.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support import Daemon

PREFIX_LEN = 24
NETNS_ETC = Path("/etc/netns")
STATE_DIR = Path("/run/cmlab")
NFT_TABLE = "cmlab"
# network name -> (third octet, interface name on hosts); order = interface order
NETWORKS = {"lan": 0, "hb": 1, "standby": 2}


class LabError(RuntimeError):
    pass


def sh(*argv: str, input_text: str | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, input=input_text, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def ip(*args: str) -> str:
    return sh("ip", *args)


@dataclass
class Host:
    name: str
    namespace: str
    addresses: dict[str, str]  # network -> address (no address on "standby")
    interfaces: dict[str, str]  # network -> interface name
    mount_ns: Path
    uts_ns: Path

    @property
    def address(self) -> str:
        return self.addresses["lan"]

    def argv(self, command: Sequence[str]) -> list[str]:
        """Run `command` on this host: its network, mount and UTS namespaces."""
        return [
            "nsenter",
            f"--net=/run/netns/{self.namespace}",
            f"--mount={self.mount_ns}",
            f"--uts={self.uts_ns}",
            "--",
            *command,
        ]


@dataclass
class Lab:
    prefix: str = field(default_factory=lambda: "cm" + secrets.token_hex(3))
    hosts: dict[str, Host] = field(default_factory=dict)
    client: Host | None = None
    networks: tuple[str, ...] = ("lan",)
    _namespaces: list[str] = field(default_factory=list)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _ports: dict[tuple[str, str], str] = field(default_factory=dict)  # (host, net) -> port
    _state: Path | None = None

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- building -----------------------------------------------------------------

    def build(
        self, names: Sequence[str], client: bool = True, networks: Sequence[str] = ("lan",)
    ) -> Lab:
        """Create the switch and one host per name, numbered .10, .11, ... in order."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces)")
        for tool in ("ip", "nsenter", "unshare"):
            if shutil.which(tool) is None:
                raise LabError(f"the lab needs {tool} (iproute2, util-linux)")
        unknown = set(networks) - set(NETWORKS)
        if unknown or "lan" not in networks:
            raise LabError(f"networks must include lan and come from {list(NETWORKS)}")
        self.networks = tuple(n for n in NETWORKS if n in networks)
        self._prepare_state_dir()
        self._add_namespace(self.switch)
        for net in self.networks:
            ip("-n", self.switch, "link", "add", f"br-{net}", "type", "bridge")
            ip("-n", self.switch, "link", "set", f"br-{net}", "up")
        members = [(name, 10 + i, self.networks) for i, name in enumerate(names)]
        if client:
            members.append(("client", 250, ("lan",)))
        for name, number, nets in members:
            host = self._add_host(name, number, nets)
            if name == "client":
                self.client = host
            else:
                self.hosts[name] = host
        self._write_hosts_files()
        for host in self._all_hosts():
            self._enter_private_namespaces(host)
        return self

    def _prepare_state_dir(self) -> None:
        # Mount namespaces are kept alive by bind mounts on files, which needs a
        # private mount under them (as /run/netns is for network namespaces).
        state = STATE_DIR / self.prefix
        state.mkdir(parents=True, exist_ok=False)
        self._state = state
        sh("mount", "--bind", str(state), str(state))
        sh("mount", "--make-private", str(state))

    def _add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self._namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def _add_host(self, name: str, number: int, nets: Sequence[str]) -> Host:
        assert self._state is not None
        namespace = f"{self.prefix}-{name}"
        self._add_namespace(namespace)
        host = Host(
            name,
            namespace,
            {},
            {},
            self._state / f"{name}.mnt",
            self._state / f"{name}.uts",
        )
        for net in nets:
            octet = NETWORKS[net]
            iface = f"eth{octet}"
            port = f"{net[:2]}{len(self._ports)}"
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
                iface,
                "netns",
                namespace,
            )
            ip("-n", self.switch, "link", "set", port, "master", f"br-{net}", "up")
            if net != "standby":
                address = f"198.18.{octet}.{number}"
                ip("-n", namespace, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", iface)
                host.addresses[net] = address
            ip("-n", namespace, "link", "set", iface, "up")
            host.interfaces[net] = iface
            self._ports[(name, net)] = port
        return host

    def _all_hosts(self) -> list[Host]:
        return [*self.hosts.values(), *([self.client] if self.client else [])]

    def _write_hosts_files(self) -> None:
        lines = ["127.0.0.1 localhost"]
        lines += [f"{h.address} {h.name}" for h in self.hosts.values()]
        text = "\n".join(lines) + "\n"
        for host in self._all_hosts():
            directory = NETNS_ETC / host.namespace
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "hosts").write_text(text)

    def _enter_private_namespaces(self, host: Host) -> None:
        host.mount_ns.touch()
        host.uts_ns.touch()
        setup = (
            f"mount --bind {NETNS_ETC / host.namespace / 'hosts'} /etc/hosts && "
            "mount -t sysfs sysfs /sys && "
            f"hostname {host.name}"
        )
        sh(
            "nsenter",
            f"--net=/run/netns/{host.namespace}",
            "--",
            "unshare",
            f"--mount={host.mount_ns}",
            f"--uts={host.uts_ns}",
            "--propagation",
            "slave",
            "sh",
            "-c",
            setup,
        )

    # -- processes ------------------------------------------------------------------

    def host(self, name: str) -> Host:
        if name == "client" and self.client is not None:
            return self.client
        return self.hosts[name]

    def start(
        self, host: str, command: Sequence[str], env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start a process on a host; its PID is the command's own (nsenter execs it),
        so the lab kills exactly what it started."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                self.host(host).argv(command),
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._processes.append(process)
        return process

    def start_daemon(
        self,
        host: str,
        root: Path,
        node: str,
        command: Sequence[str],
        *,
        env_extra: Mapping[str, str] | None = None,
        program: str = "cmcld",
    ) -> Daemon:
        """cmcld (or cmqsd) on a lab host, on its standard port of all its addresses."""
        from cluster.paths import DEFAULT_PORT
        from cluster.transport.quorum import QUORUM_PORT
        from tests.support import start_daemon

        daemon = start_daemon(
            root,
            node,
            host="0.0.0.0",
            port=QUORUM_PORT if program == "cmqsd" else DEFAULT_PORT,
            command=command,
            wrap=self.host(host).argv([]),
            env_extra=env_extra,
            program=program,
        )
        self._processes.append(daemon.process)
        return daemon

    def run(
        self,
        host: str,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.host(host).argv(command),
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @staticmethod
    def pause(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGSTOP)

    @staticmethod
    def resume(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGCONT)

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    # -- faults ---------------------------------------------------------------------

    def link_down(self, host: str, net: str = "lan") -> None:
        h = self.host(host)
        ip("-n", h.namespace, "link", "set", h.interfaces[net], "down")

    def link_up(self, host: str, net: str = "lan") -> None:
        h = self.host(host)
        ip("-n", h.namespace, "link", "set", h.interfaces[net], "up")

    def detach(self, host: str, net: str = "lan") -> None:
        """Unplug the host's cable from the switch: its own link stays up."""
        ip("-n", self.switch, "link", "set", self._ports[(host, net)], "nomaster")

    def attach(self, host: str, net: str = "lan") -> None:
        """Plug the cable back in; returns once the bridge forwards on that port."""
        port = self._ports[(host, net)]
        ip("-n", self.switch, "link", "set", port, "master", f"br-{net}")
        deadline = time.monotonic() + 10
        while "state forwarding" not in ip("-n", self.switch, "-d", "link", "show", port):
            if time.monotonic() > deadline:
                raise LabError(f"bridge port {port} did not start forwarding in 10 s")
            time.sleep(0.05)

    def cut(
        self,
        a: str,
        b: str,
        *,
        one_way: bool = False,
        loss_percent: int = 100,
        nets: Sequence[str] | None = None,
    ) -> None:
        """Drop traffic between hosts a and b (only a -> b when one_way), entirely or a
        random loss_percent of packets, on the given networks (default all)."""
        if shutil.which("nft") is None:
            raise LabError("cut needs nftables (apt-get install nftables)")
        if not 0 < loss_percent <= 100:
            raise LabError("loss_percent must be 1..100")
        verdict = "drop" if loss_percent == 100 else f"numgen random mod 100 < {loss_percent} drop"
        for net in nets or self.networks:
            src, dst = self.host(a).addresses.get(net), self.host(b).addresses.get(net)
            if src is None or dst is None:
                continue
            self._nft_rule(a, f"output ip daddr {dst} {verdict}")
            if not one_way:
                self._nft_rule(a, f"input ip saddr {dst} {verdict}")

    def heal(self, host: str | None = None) -> None:
        """Remove every nftables cut (on one host, or everywhere)."""
        for h in [self.host(host)] if host else self._all_hosts():
            subprocess.run(
                ["ip", "netns", "exec", h.namespace, "nft", "delete", "table", "inet", NFT_TABLE],
                capture_output=True,
                check=False,
            )

    def _nft_rule(self, host: str, rule: str) -> None:
        namespace = self.host(host).namespace
        chain, _, body = rule.partition(" ")
        script = (
            f"table inet {NFT_TABLE} {{\n"
            f"  chain input {{ type filter hook input priority 0; }}\n"
            f"  chain output {{ type filter hook output priority 0; }}\n"
            f"}}\n"
            f"add rule inet {NFT_TABLE} {chain} {body}\n"
        )
        sh("ip", "netns", "exec", namespace, "nft", "-f", "-", input_text=script)

    # -- cleanup ----------------------------------------------------------------------

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)  # a paused process cannot die
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._processes.clear()
        for host in self._all_hosts():
            for ns_file in (host.mount_ns, host.uts_ns):
                subprocess.run(["umount", "-l", str(ns_file)], capture_output=True, check=False)
        for namespace in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
            shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)
        self._namespaces.clear()
        if self._state is not None:
            subprocess.run(["umount", "-l", str(self._state)], capture_output=True, check=False)
            shutil.rmtree(self._state, ignore_errors=True)
            self._state = None
