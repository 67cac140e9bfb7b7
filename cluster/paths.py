"""Where cmcluster keeps its files on a host (DESIGN.md §5), relocatable as a whole.

`CMCLUSTER_ROOT` moves every path under another directory, which is how tests and the
demo run many hosts on one machine. `CMCLUSTER_NODE` (or `--node`) overrides the node
name, which is otherwise the short host name.
"""

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 5302  # Serviceguard's hacl-cl port
ROOT_ENV = "CMCLUSTER_ROOT"
NODE_ENV = "CMCLUSTER_NODE"


@dataclass(frozen=True)
class HostPaths:
    """Every file and directory of one host, derived from one root."""

    root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "HostPaths":
        env = os.environ if environ is None else environ
        return cls(Path(env.get(ROOT_ENV) or "/"))

    @property
    def etc_dir(self) -> Path:
        return self.root / "etc" / "cmcluster"

    @property
    def cluster_ascii(self) -> Path:
        return self.etc_dir / "cluster.ascii"

    @property
    def cmclconfig(self) -> Path:
        return self.etc_dir / "cmclconfig"

    @property
    def tls_dir(self) -> Path:
        return self.etc_dir / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def node_cert(self) -> Path:
        return self.tls_dir / "node.crt"

    @property
    def node_key(self) -> Path:
        return self.tls_dir / "node.key"

    @property
    def ca_dir(self) -> Path:
        """Default home of the cluster CA (`cmcert init-ca`); need not be on a node."""
        return self.etc_dir / "ca"

    @property
    def state_dir(self) -> Path:
        return self.root / "var" / "lib" / "cmcluster"

    @property
    def log_dir(self) -> Path:
        return self.root / "var" / "log" / "cmcluster"

    @property
    def cmcld_log(self) -> Path:
        return self.log_dir / "cmcld.log"

    @property
    def run_dir(self) -> Path:
        """Root-only (0700) directory of the admin socket and the pid lock."""
        return self.root / "var" / "run" / "cmcluster"

    @property
    def admin_socket(self) -> Path:
        return self.run_dir / "cmcld.sock"

    @property
    def cmcld_pid(self) -> Path:
        return self.run_dir / "cmcld.pid"

    def package_log(self, package: str) -> Path:
        return self.log_dir / f"{package}.log"


def local_node_name(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The node name: `--node`, else `CMCLUSTER_NODE`, else the short host name."""
    env = os.environ if environ is None else environ
    return explicit or env.get(NODE_ENV) or socket.gethostname().split(".")[0]
