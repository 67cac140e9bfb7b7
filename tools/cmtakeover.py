"""cmtakeover: run a package on this node without the cluster (emergency takeover).

  cmtakeover [-f] [-v] PKG

The reference notes' emergency procedure (应急处理方案), for when the cluster cannot be
started and the application must run anyway: activate the package's volume groups,
add its floating IPs, mount its filesystems, run its run script and start its
services on this node, from the configuration applied here, with every check that the
package's own start makes: the duplicate-address probe refuses an address another host
answers for, the MMP check refuses a filesystem a live host has mounted. cmtakeover
stays in the foreground and supervises the services as configured (a service out of
restarts halts the package: exit status 1); Ctrl-C or SIGTERM halts the package in
reverse order (the notes' recovery steps 1 to 3), after which
`cmruncl` starts the cluster as usual.

Refused while cmcld runs on this node (the cluster manages the package: use cmrunpkg),
when any other node's cmcld reports the package running, and, unless -f, when any other
node's cmcld answers at all (the cluster may be running: -f is the operator's word that
it is not). While cmtakeover runs, cmcld cannot start on this node.
"""

import asyncio
import logging
import signal
import sys

from cluster.cli.args import CmArgumentParser
from cluster.config.model import Config, Package
from cluster.errors import CmError, UsageError
from cluster.names import object_name_problem
from cluster.paths import DEFAULT_PORT, HostPaths, local_node_name

PEER_TIMEOUT = 3.0  # seconds for each other node's cmcld to answer
RUNNING_STATES = ("starting", "running", "halting")


def main(argv: list[str], prog: str = "cmtakeover") -> int:
    parser = CmArgumentParser(
        prog=prog,
        description="Run a package on this node without the cluster (emergency takeover); "
        "stays in the foreground, Ctrl-C or SIGTERM halts it.",
    )
    parser.add_argument("package", metavar="PKG", help="the package to run on this node")
    parser.add_argument(
        "-f",
        dest="force",
        action="store_true",
        help="go on although other nodes' cmcld answer (you know the cluster is not running)",
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="show every step")
    parser.add_argument("--node", help="this node's name (default: CMCLUSTER_NODE or host name)")
    args = parser.parse_args(argv)
    problem = object_name_problem(args.package)
    if problem:
        raise UsageError(problem)
    return asyncio.run(_takeover(args.package, args.force, args.verbose, args.node))


async def _takeover(name: str, force: bool, verbose: bool, node_arg: str | None) -> int:
    from cluster.daemon.configstore import ConfigStore
    from cluster.daemon.pidlock import PidLock

    paths = HostPaths.from_env()
    node = local_node_name(node_arg)
    lock = PidLock(paths.cmcld_pid)
    try:
        lock.acquire("cmtakeover")
    except CmError as exc:
        raise CmError(f"{exc}: while it runs, the cluster manages {name}; use cmrunpkg") from None
    try:
        store = ConfigStore(paths)
        store.load()
        config = store.config
        if config is None:
            raise CmError(f"no configuration is applied on {node} ({paths.cmclconfig})")
        package = next((p for p in config.packages if p.name == name), None)
        if package is None:
            known = ", ".join(p.name for p in config.packages) or "none"
            raise CmError(f"no package {name} in the applied configuration (packages: {known})")
        if node not in package.eligible_nodes(config.cluster):
            raise CmError(f"{name} may not run on {node} (not in its node list)")
        await _check_others(config, package, node, paths, force)
        return await _run(config, package, node, paths, verbose)
    finally:
        lock.release()


async def _check_others(
    config: Config, package: Package, node: str, paths: HostPaths, force: bool
) -> None:
    """Refuse when another node's cmcld has the package, or (without -f) answers at all."""
    from cluster.daemon.distribute import node_addresses
    from cluster.daemon.startup import own_credentials
    from cluster.pb.v1 import package_pb2
    from cluster.security.identity import Kind
    from cluster.transport.peers import PeerDialer

    others = [n for n in config.cluster.node_names if n != node]
    dialer = PeerDialer(own_credentials(paths, node, Kind.NODE), DEFAULT_PORT)

    async def ask(peer: str) -> tuple[str, package_pb2.NodePackages | None]:
        try:
            request = package_pb2.GetPackagesRequest(epoch=0)
            reply = await dialer.call(
                peer, node_addresses(peer, config), "GetPackages", request, PEER_TIMEOUT
            )
        except CmError:
            return peer, None
        return peer, reply

    try:
        replies = dict(await asyncio.gather(*(ask(p) for p in others)))
    finally:
        await dialer.close()
    answering = sorted(p for p, r in replies.items() if r is not None)
    for peer in answering:
        report = replies[peer]
        assert report is not None
        for item in report.packages:
            if item.package_name == package.name and _state(item) in RUNNING_STATES:
                raise CmError(f"{package.name} is {_state(item)} on {peer}: not taking it over")
    if answering and not force:
        raise CmError(
            f"cmcld answers on {', '.join(answering)}: if the cluster is running, use "
            f"cmrunpkg -n {node} {package.name}; -f if you know it is not"
        )
    for peer in answering:
        print(f"cmtakeover: cmcld answers on {peer} but does not run {package.name} (-f)")


def _state(item: object) -> str:
    from cluster.pb.v1 import common_pb2, package_pb2

    assert isinstance(item, package_pb2.PackageReport)
    name = common_pb2.PackageState.Name(item.state)
    return name.removeprefix("PACKAGE_STATE_").lower()


async def _run(config: Config, package: Package, node: str, paths: HostPaths, verbose: bool) -> int:
    from cluster.packages.build import package_runner
    from cluster.packages.runner import PackageRunner
    from cluster.resources.base import Health, Resource

    stop = asyncio.Event()
    failures: list[str] = []

    def failed(_: PackageRunner, resource: Resource, health: Health) -> None:
        # A service out of restarts: with no cluster to move the package, halt it.
        failures.append(f"{resource.label}: {health.reason}")
        log.error("%s failed: %s; halting %s", resource.label, health.reason, package.name)
        stop.set()

    runner = package_runner(package, config, node, paths, on_failure=failed)
    log = runner.log
    log.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("cmtakeover: %(message)s"))
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    log.addHandler(console)
    log.warning("emergency takeover of %s on %s, outside the cluster", package.name, node)
    outcome = await runner.start(takeover=True)
    if not outcome.ok:
        print(f"cmtakeover: Unable to run {package.name}: {outcome.detail}", file=sys.stderr)
        return 1
    print(
        f"cmtakeover: {package.name} runs on {node} outside the cluster; Ctrl-C or SIGTERM "
        "halts it (then cmruncl starts the cluster)",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.warning("halting %s: end of the emergency takeover", package.name)
    halted = await runner.halt()
    if not halted.ok or not halted.clean:
        print(f"cmtakeover: halting {package.name}: {halted.detail}", file=sys.stderr)
        return 1
    print(f"cmtakeover: {package.name} halted on {node}", flush=True)
    return 1 if failures else 0
