"""Small builders for tests: configurations from inline text."""

import textwrap

from cluster.config.check import CheckResult, check_config
from cluster.config.model import Config
from cluster.config.source import PackageSource, Source

THREE_NODES = """
CLUSTER_NAME c1
NODE_NAME a
  NETWORK_INTERFACE eth0
    HEARTBEAT_IP 198.18.0.1/24
  NETWORK_INTERFACE eth1
    STATIONARY_IP 198.18.1.1/24
NODE_NAME b
  NETWORK_INTERFACE eth0
    HEARTBEAT_IP 198.18.0.2/24
  NETWORK_INTERFACE eth1
    STATIONARY_IP 198.18.1.2/24
NODE_NAME c
  NETWORK_INTERFACE eth0
    HEARTBEAT_IP 198.18.0.3/24
  NETWORK_INTERFACE eth1
    STATIONARY_IP 198.18.1.3/24
"""


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def check(cluster: str | None, *packages: str, applied: Config | None = None) -> CheckResult:
    source = Source("cluster.ascii", dedent(cluster)) if cluster is not None else None
    sources = [PackageSource(f"pkg{i}.conf", dedent(p)) for i, p in enumerate(packages, 1)]
    return check_config(source, sources, applied=applied)


def config(cluster: str, *packages: str) -> Config:
    return check(cluster, *packages).raise_if_errors()


def messages(result: CheckResult, warnings: bool = False) -> list[str]:
    chosen = result.warnings if warnings else result.errors
    return [str(p) for p in chosen]
