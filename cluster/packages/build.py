"""A package's resources, built from its configuration, in start order (DESIGN.md §3):

    volume groups -> floating IPs -> filesystems -> OCF resources -> run script -> services

Halting is the exact reverse. FS_FSCK_OPT left empty means no fsck before mount (a
journaled filesystem recovers on mount); set it (e.g. "-p") to check first.
"""

from typing import Any

from cluster.config.model import Cluster, Config, Package
from cluster.packages.runner import PackageRunner, package_logger
from cluster.paths import HostPaths
from cluster.resources.base import Resource
from cluster.resources.fs import Filesystem
from cluster.resources.ip import FloatingIP
from cluster.resources.ocf import OcfAgent
from cluster.resources.script import Scripts
from cluster.resources.service import Service
from cluster.resources.vg import VolumeGroup

US = 1e-6


def _seconds(us: int | None) -> float | None:
    return None if us is None else us * US


def resources_for(package: Package, cluster: Cluster, node: str) -> list[Resource]:
    resources: list[Resource] = [VolumeGroup(name=vg) for vg in package.volume_groups]
    # Without LOCAL_LAN_FAILOVER_ALLOWED the package's addresses never go on a standby
    # interface of `node`: when their interface fails, the package moves to another node.
    avoid: frozenset[str] = frozenset()
    if not package.local_lan_failover and (here := cluster.node(node)) is not None:
        avoid = frozenset(i.name for i in here.interfaces if i.standby)
    for subnet in package.ip_subnets:
        resources += [
            FloatingIP(address=a, subnet=subnet.subnet, avoid=avoid) for a in subnet.addresses
        ]
    resources += [
        Filesystem(
            device=fs.device,
            mount_point=fs.directory,
            fs_type=fs.type,
            mount_opt=fs.mount_options,
            umount_opt=fs.umount_options,
            fsck_opt=fs.fsck_options or None,
        )
        for fs in package.filesystems
    ]
    for ocf in package.ocf_resources:
        provider, _, agent = ocf.agent.partition("/")
        timeout = ocf.timeout_us * US
        resources.append(
            OcfAgent(
                provider=provider,
                agent=agent,
                instance=f"{package.name}.{ocf.name}",
                params=dict(ocf.parameters),
                start_timeout=timeout,
                stop_timeout=timeout,
                monitor_timeout=timeout,
            )
        )
    if package.run_script or package.halt_script:
        resources.append(
            Scripts(
                run_script=package.run_script,
                halt_script=package.halt_script,
                run_timeout=_seconds(package.run_script_timeout_us),
                halt_timeout=_seconds(package.halt_script_timeout_us),
            )
        )
    resources += [
        Service(
            name=s.name,
            cmd=s.command,
            restart=s.restart,
            fail_fast=s.fail_fast,
            halt_timeout=s.halt_timeout_us * US,
        )
        for s in package.services
    ]
    return resources


def package_runner(
    package: Package, config: Config, node: str, paths: HostPaths, **hooks: Any
) -> PackageRunner:
    """The runner of `package` on `node`: its resources, its log, its environment;
    `hooks` are PackageRunner's callbacks (cmcld's, or cmtakeover's without a cluster)."""
    return PackageRunner(
        name=package.name,
        node=node,
        resources=resources_for(package, config.cluster, node),
        log=package_logger(package.name, paths.log_dir),
        output=paths.package_log(package.name),
        env=package_env(package, config),
        **hooks,
    )


def package_env(package: Package, config: Config) -> dict[str, str]:
    """Variables every script and service of the package sees (Serviceguard's SG_*)."""
    return {
        "SG_PACKAGE": package.name,
        "SG_CLUSTER": config.cluster.name,
        "SG_PACKAGE_IP": " ".join(package.ip_addresses),
    }
