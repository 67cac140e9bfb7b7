"""A lab of hosts on this machine: each host is a network, mount and UTS namespace.

    switch namespace   <prefix>-sw       one bridge per network (br-lan, br-hb, ...)
    host namespaces    <prefix>-<name>   eth0 on "lan" 198.18.0.<10+i>/24,
                                         eth1 on "hb"  198.18.1.<10+i>/24,
                                         eth2 on "standby", no address
    client namespace   <prefix>-client   eth0 on "lan" 198.18.0.250/24

The "standby" network's bridge is joined to the lan's, as the reference notes' two hubs
are cabled together: a host's standby interface reaches the lan (local LAN failover
moves the lan addresses there), not the "hb" network.

Veths are created inside the switch namespace so nothing appears in the machine's own
namespace (NOTES.md). Each host also has a persistent mount namespace (so what its
daemon mounts stays visible to the host's later commands and to nobody else), its own
sysfs, /etc/hosts (listing every host by name) and host name.

Shared disks (`shared_disk`): one ext4 image with multi-mount protection, one loop
device per host attached to it, and one path, /dev/<prefix>-<name>, that names the
host's own loop device inside each host's mount namespace, so a package configuration
says the same FS_NAME on every node.

Faults: `link_down`, `detach` (bridge port leaves the bridge), `cut` (nftables drop
rules inside host namespaces: both ways, one way, or lossy with numgen random),
`pause`/`resume`/`kill` of a process by PID, and `crash`/`boot` of a whole host (see
`crash` for what it models and what it cannot).

Every name carries a per-run prefix; `close()` kills the processes the lab started (by
PID) and whatever they left running inside the lab's own namespaces, unmounts the
shared disks and detaches their loop devices, removes nftables tables, namespaces and
files, also after a failure. Every lab also keeps a footprint of what it made (names,
namespace identities, processes), and `leftovers()` checks, after a whole test session,
that none of it is left anywhere on the machine. Addresses come from 198.18.0.0/15
only and never leave the namespaces.
"""

from __future__ import annotations

import contextlib
import json
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
# ext4 multi-mount protection (kernel 6.18, e2fsprogs 1.47). A host mounting an MMP
# filesystem whose MMP block is not marked clean waits 2 * check_interval + 1 s, then
# refuses if the block changed meanwhile (another host has it mounted), or else writes
# its own sequence, waits as long again and mounts. check_interval is twice the
# holder's mmp_update_interval, but at least 5 s (EXT4_MMP_MIN_CHECK_INTERVAL). A disk
# unmounted cleanly is marked clean and mounts at once. Measured on a 2-core VM:
#   mmp_update_interval   clean mount   refused (held elsewhere)   mount after a crash
#   5 s (the default)     ~10 ms        21.7 s                     ~43 s (2 x 21 s)
#   1 s (our choice)      ~10 ms        11.1 s                     22.4 s
# (tests/netns/test_lab.py measures the 1 s row). We choose 1 s: it is where the kernel's
# 5 s floor takes over, so it halves a failover after a crash for one 4 KiB write per
# second by the holder; the field counts whole seconds, and smaller gains nothing.
# A mount alone would therefore add ~22 s to a failover after a host crash; cmcld
# resets a stale block itself at takeover once it was quiet for the longest gap seen
# between the holder's writes plus 0.5 s, about 1.7 s here (2 x interval + 0.5 s = 2.5 s
# on a node that saw nothing of the holder; cluster/resources/mmp.py), most of which has
# passed by the takeover, and a switch after a clean halt costs nothing.
MMP_UPDATE_INTERVAL = 1


class LabError(RuntimeError):
    pass


@dataclass
class SharedDisk:
    """One disk image seen by every host: `path` is the same name on each host and is
    that host's own loop device there (`devices`), as a SAN LUN is on real nodes."""

    name: str
    path: str
    image: Path
    mmp_offset: int  # byte offset of the MMP block in the image
    block_size: int
    devices: dict[str, str] = field(default_factory=dict)  # host -> /dev/loopN


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


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a live (not zombie) process, to tell it from a later
    process given the same PID."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _ns_id(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


@dataclass
class Footprint:
    """What one lab made, kept after it closed."""

    prefix: str
    namespaces: set[tuple[int, int]] = field(default_factory=set)  # net, mnt, uts ids
    processes: list[tuple[int, str]] = field(default_factory=list)  # (pid, start time)


FOOTPRINTS: list[Footprint] = []


def leftovers(footprints: Sequence[Footprint] | None = None) -> list[str]:
    """Everything of the given labs (default: every lab of this process) still on the
    machine: namespaces, /etc/netns and state directories, device paths, mounts, loop
    devices on their images, processes they started, and any process still inside one
    of their namespaces (a service cmcld left running, say)."""
    prints = FOOTPRINTS if footprints is None else footprints
    found: list[str] = []
    prefixes = tuple(f.prefix for f in prints)
    if not prefixes:
        return found
    for directory in (Path("/run/netns"), NETNS_ETC, STATE_DIR, Path("/dev")):
        if directory.is_dir():
            found += [f"{p}" for p in directory.iterdir() if p.name.startswith(prefixes)]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if any(prefix in line for prefix in prefixes):
            found.append(f"mount: {line.split()[4]}")
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=False)
    found += [
        f"loop device: {x}" for x in loops.stdout.splitlines() if any(p in x for p in prefixes)
    ]
    started = {pid: when for f in prints for pid, when in f.processes}
    ours = set().union(*(f.namespaces for f in prints))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        when = _start_time(pid)
        if when is None:
            continue
        inside = any(_ns_id(entry / "ns" / kind) in ours for kind in ("net", "mnt", "uts"))
        if inside or started.get(pid) == when:
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            found.append(f"process {pid}: {cmdline.strip()}")
    return found


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
    disks: dict[str, SharedDisk] = field(default_factory=dict)
    _loops: list[str] = field(default_factory=list)  # every loop device we attached
    _device_paths: list[Path] = field(default_factory=list)  # placeholders in /dev
    footprint: Footprint = field(init=False)

    def __post_init__(self) -> None:
        self.footprint = Footprint(self.prefix)
        FOOTPRINTS.append(self.footprint)

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
        if "standby" in self.networks:
            ip("-n", self.switch, "link", "add", "hub-lan", "type", "veth", "peer", "hub-standby")
            for net in ("lan", "standby"):
                ip("-n", self.switch, "link", "set", f"hub-{net}", "master", f"br-{net}", "up")
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
        if (ns := _ns_id(f"/run/netns/{name}")) is not None:
            self.footprint.namespaces.add(ns)
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
        for ns_file in (host.mount_ns, host.uts_ns):
            if (ns := _ns_id(ns_file)) is not None:
                self.footprint.namespaces.add(ns)

    # -- shared disks -------------------------------------------------------------------

    def shared_disk(
        self,
        name: str,
        size_mb: int = 64,
        *,
        directory: Path | None = None,
        mmp_update_interval: int = MMP_UPDATE_INTERVAL,
        hosts: Sequence[str] | None = None,
    ) -> SharedDisk:
        """An ext4 image with MMP, attached once per host (loop devices are global, and
        one loop device mounted by two hosts would be one superblock that MMP cannot
        see), named /dev/<prefix>-<name> on every host by a bind mount of the host's own
        loop device in its mount namespace. The image lives in `directory` (default:
        the lab's state directory); `hosts` limits which hosts see it (default all)."""
        if self._state is None or not self.hosts:
            raise LabError("build the lab before adding a shared disk")
        if name in self.disks or "/" in name:
            raise LabError(f"bad or duplicate disk name {name!r}")
        for tool in ("losetup", "mkfs.ext4"):
            if shutil.which(tool) is None:
                raise LabError(f"shared disks need {tool} (util-linux, e2fsprogs)")
        image = (directory or self._state) / f"{self.prefix}-{name}.img"
        with image.open("wb") as f:
            f.truncate(size_mb << 20)
        sh(
            "mkfs.ext4",
            "-q",
            "-F",
            "-O",
            "mmp",
            "-E",
            f"mmp_update_interval={mmp_update_interval}",
            "-L",
            name[:16],
            str(image),
        )
        header = sh("dumpe2fs", "-h", str(image))
        fields = {}
        for line in header.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        block_size = int(fields["Block size"])
        mmp_offset = int(fields["MMP block number"]) * block_size
        path = Path("/dev") / f"{self.prefix}-{name}"
        disk = SharedDisk(name, str(path), image, mmp_offset, block_size)
        self.disks[name] = disk
        # The placeholder each host's bind mount covers; outside the hosts it stays an
        # empty file, so nothing on the machine itself can mount the disk by that name.
        path.touch(exist_ok=False)
        self._device_paths.append(path)
        for host in [self.hosts[h] for h in hosts] if hosts else self.hosts.values():
            device = sh("losetup", "--find", "--show", str(image)).strip()
            self._loops.append(device)
            disk.devices[host.name] = device
            sh(*host.argv(["mount", "--bind", device, str(path)]))
        return disk

    def _release_disks(self) -> None:
        """Unmount every filesystem of our loop devices in the hosts, detach them."""
        for disk in self.disks.values():
            for name, device in disk.devices.items():
                for target in self._mounts_of(name, device):
                    subprocess.run(
                        self.host(name).argv(["umount", "-l", target]),
                        capture_output=True,
                        check=False,
                    )
        for path in self._device_paths:
            for host in self.hosts.values():
                subprocess.run(
                    host.argv(["umount", "-l", str(path)]), capture_output=True, check=False
                )
        for device in reversed(self._loops):
            # Still in use (a mount a lazy unmount left behind): -d sets autoclear and
            # the kernel frees the device at its last close.
            subprocess.run(["losetup", "-d", device], capture_output=True, check=False)
        for path in self._device_paths:
            path.unlink(missing_ok=True)
        self._device_paths.clear()

    def _wait_loops_detached(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self._loops and time.monotonic() < deadline:
            attached = sh("losetup", "-a")
            self._loops = [d for d in self._loops if f"{d}:" in attached]
            if self._loops:
                time.sleep(0.05)
        if self._loops:  # report, but let the rest of the cleanup happen
            print(f"lab {self.prefix}: loop devices still attached: {self._loops}")

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
        self._track(process)
        return process

    def _track(self, process: subprocess.Popen[bytes]) -> None:
        self._processes.append(process)
        if (when := _start_time(process.pid)) is not None:
            self.footprint.processes.append((process.pid, when))

    def start_daemon(
        self,
        host: str,
        root: Path,
        node: str,
        command: Sequence[str],
        *,
        env_extra: Mapping[str, str] | None = None,
        program: str = "cmcld",
        extra_args: Sequence[str] = (),
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
            extra_args=extra_args,
        )
        self._track(daemon.process)
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

    def pids_in(self, host: str) -> list[int]:
        """PIDs of the processes living in the host's network namespace: only the lab's
        processes and their descendants (cmcld's services, say) can be there."""
        ns = os.stat(f"/run/netns/{self.host(host).namespace}")
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                st = os.stat(entry / "ns" / "net")
            except OSError:
                continue
            if (st.st_ino, st.st_dev) == (ns.st_ino, ns.st_dev):
                pids.append(int(entry.name))
        return pids

    def _kill_all_in(self, host: str, timeout: float = 5.0) -> None:
        for pid in self.pids_in(host):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while True:
            for process in self._processes:
                process.poll()  # reap ours; a zombie has left its namespaces already
            left = self.pids_in(host)
            if not left:
                return
            if time.monotonic() > deadline:
                raise LabError(f"processes of {host} survived SIGKILL: {left}")
            time.sleep(0.02)

    # -- faults ---------------------------------------------------------------------

    def crash(self, host: str) -> None:
        """Model a host crash as far as one kernel allows.

        What a crash does and the lab does too: the host falls off every network at
        once (its links go down, so nothing it had, floating addresses included,
        answers any more), every process on it dies at once (SIGKILL of every process
        in its namespaces: cmcld, the guard, the package's services), and the
        floating addresses it held are gone when it comes back (flushed, as a reboot
        would). A shared disk it had mounted is left with its MMP block as the host's
        last MMP update wrote it (not marked clean), so the next host's mount waits
        out MMP as after a real crash.

        What it cannot model: the kernel's mount of the disk has to be unmounted
        (that is what stops ext4's MMP thread, which a crash would have stopped), so
        the filesystem's journal is clean instead of needing replay; and the MMP block
        is rewritten from a copy taken just before."""
        h = self.host(host)
        for iface in h.interfaces.values():
            ip("-n", h.namespace, "link", "set", iface, "down")
        mmp_blocks = {d.name: self._read_mmp_block(d) for d in self._mounted_disks(host)}
        # A mount sleeping out MMP in the kernel (2 x 5 s + 1 s) dies only when it wakes.
        self._kill_all_in(host, timeout=15.0)
        for disk in self.disks.values():
            device = disk.devices.get(host)
            for target in self._mounts_of(host, device) if device else []:
                done = self.run(host, ["umount", target])
                if done.returncode != 0:
                    raise LabError(f"crash of {host}: cannot unmount {target}: {done.stderr}")
        for name, block in mmp_blocks.items():
            self._write_mmp_block(self.disks[name], block)
        lab_addresses = set(h.addresses.values())
        for info in json.loads(ip("-j", "-n", h.namespace, "-4", "addr", "show")):
            for addr in info.get("addr_info", []):
                if info["ifname"] != "lo" and addr["local"] not in lab_addresses:
                    prefix = f"{addr['local']}/{addr['prefixlen']}"
                    ip("-n", h.namespace, "addr", "del", prefix, "dev", info["ifname"])

    def boot(self, host: str) -> None:
        """Bring a crashed host back on its networks (its daemons are the caller's to
        start); returns once the switch forwards on each of its ports."""
        h = self.host(host)
        for net, iface in h.interfaces.items():
            ip("-n", h.namespace, "link", "set", iface, "up")
            port = self._ports[(host, net)]
            deadline = time.monotonic() + 10
            while "state forwarding" not in ip("-n", self.switch, "-d", "link", "show", port):
                if time.monotonic() > deadline:
                    raise LabError(f"bridge port {port} did not start forwarding in 10 s")
                time.sleep(0.05)

    def _mounts_of(self, host: str, device: str) -> list[str]:
        """Where the host has `device` mounted, deepest first (the device path bound
        over the disk's name does not count: it is not a mount of the filesystem)."""
        rdev = os.stat(device).st_rdev
        numbers = f"{os.major(rdev)}:{os.minor(rdev)}"
        out = self.run(host, ["findmnt", "-rn", "-o", "TARGET,MAJ:MIN,FSTYPE"]).stdout
        targets = [
            line.split()[0]
            for line in out.splitlines()
            if line.split()[1:2] == [numbers] and line.split()[2:3] != ["devtmpfs"]
        ]
        return sorted(targets, reverse=True)

    def _mounted_disks(self, host: str) -> list[SharedDisk]:
        return [
            d
            for d in self.disks.values()
            if host in d.devices and self._mounts_of(host, d.devices[host])
        ]

    @staticmethod
    def _read_mmp_block(disk: SharedDisk) -> bytes:
        with disk.image.open("rb") as f:
            f.seek(disk.mmp_offset)
            return f.read(disk.block_size)

    @staticmethod
    def _write_mmp_block(disk: SharedDisk, block: bytes) -> None:
        with disk.image.open("r+b") as f:
            f.seek(disk.mmp_offset)
            f.write(block)
            f.flush()
            os.fsync(f.fileno())

    def link_down(self, host: str, net: str = "lan") -> None:
        h = self.host(host)
        ip("-n", h.namespace, "link", "set", h.interfaces[net], "down")

    def link_up(self, host: str, net: str = "lan") -> None:
        h = self.host(host)
        ip("-n", h.namespace, "link", "set", h.interfaces[net], "up")

    def pull_cable(self, host: str, net: str = "lan") -> None:
        """The host's interface loses its carrier (its switch port goes down), as when
        a cable is pulled or a NIC dies: the host sees NO-CARRIER, its link admin-up."""
        ip("-n", self.switch, "link", "set", self._ports[(host, net)], "down")

    def plug_cable(self, host: str, net: str = "lan") -> None:
        """The carrier is back; returns once the bridge forwards on that port."""
        port = self._ports[(host, net)]
        ip("-n", self.switch, "link", "set", port, "up")
        self._wait_forwarding(port)

    def detach(self, host: str, net: str = "lan") -> None:
        """Unplug the host's cable from the switch: its own link stays up."""
        ip("-n", self.switch, "link", "set", self._ports[(host, net)], "nomaster")

    def attach(self, host: str, net: str = "lan") -> None:
        """Plug the cable back in; returns once the bridge forwards on that port."""
        port = self._ports[(host, net)]
        ip("-n", self.switch, "link", "set", port, "master", f"br-{net}")
        self._wait_forwarding(port)

    def _wait_forwarding(self, port: str) -> None:
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
            try:  # what our processes left behind in our namespaces (orphaned services)
                self._kill_all_in(host.name)
            except (LabError, OSError) as exc:
                print(f"lab {self.prefix}: {exc}")
        self._release_disks()
        for host in self._all_hosts():
            for ns_file in (host.mount_ns, host.uts_ns):
                subprocess.run(["umount", "-l", str(ns_file)], capture_output=True, check=False)
        for namespace in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
            shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)
        self._namespaces.clear()
        self._wait_loops_detached()
        if self._state is not None:
            subprocess.run(["umount", "-l", str(self._state)], capture_output=True, check=False)
            shutil.rmtree(self._state, ignore_errors=True)
            self._state = None
