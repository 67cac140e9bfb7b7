"""What this node reports of one package (PackageReport): its state, services, the
error that failed it, whether its last halt left something held, and, running in part
or ailing in maintenance mode, what of it is not up."""

from cluster.packages.runner import PackageRunner, State
from cluster.pb.v1 import common_pb2, package_pb2

STATE_PB = {
    State.HALTED: common_pb2.PACKAGE_STATE_HALTED,
    State.STARTING: common_pb2.PACKAGE_STATE_STARTING,
    State.RUNNING: common_pb2.PACKAGE_STATE_RUNNING,
    State.HALTING: common_pb2.PACKAGE_STATE_HALTING,
    State.FAILED: common_pb2.PACKAGE_STATE_FAILED,
}


def package_report(
    node: str, runner: PackageRunner, subnets_down: tuple[str, ...] = ()
) -> package_pb2.PackageReport:
    unclean = runner.unclean or bool(runner.leftover)
    unclean = unclean or (runner.state is State.FAILED and bool(runner.active_resources()))
    return package_pb2.PackageReport(
        package_name=runner.name,
        node_name=node,
        state=STATE_PB[runner.state],
        services=[
            package_pb2.ServiceReport(
                service_name=s.name,
                running=s.pid is not None,
                restarts=s.restarts,
                pid=s.pid or 0,
                max_restarts="unlimited" if s.restart is None else str(s.restart),
            )
            for s in runner.services()
        ],
        last_error=runner.last_error,
        halt_unclean=unclean,
        subnets_down=sorted(subnets_down),
        modules_down=runner.modules_down(),
        ailing=ailing(runner, subnets_down),
    )


def ailing(runner: PackageRunner, subnets_down: tuple[str, ...] = ()) -> str:
    """What is not up or healthy of a running package, in words ("" if whole)."""
    if runner.state is not State.RUNNING:
        return ""
    parts = [f"{m} down" for m in runner.modules_down()]
    parts += [
        f"service {s.name} not running" for s in runner.services() if s.active and s.pid is None
    ]
    parts += [f"subnet {s} down" for s in subnets_down]
    if runner.ignored:
        parts.append(runner.ignored)
    return "; ".join(dict.fromkeys(parts))
