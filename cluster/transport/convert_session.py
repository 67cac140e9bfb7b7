"""Placement-session types <-> protobuf: members' package reports and the replicated
switching flags (`cluster.core.session_model`), field by field."""

from cluster.core.policy_model import InstanceState
from cluster.core.session_model import Flag, Flags, Held, NodeReport
from cluster.pb.v1 import common_pb2, package_pb2

INSTANCE_OF = {
    common_pb2.PACKAGE_STATE_STARTING: InstanceState.STARTING,
    common_pb2.PACKAGE_STATE_RUNNING: InstanceState.RUNNING,
    common_pb2.PACKAGE_STATE_HALTING: InstanceState.HALTING,
}


# ModifyPackageRequest.maintenance -> Modify.maintenance (None: -e or -d).
MAINTENANCE = {
    package_pb2.ModifyPackageRequest.MAINTENANCE_ON: True,
    package_pb2.ModifyPackageRequest.MAINTENANCE_OFF: False,
}


def instance_of(report: package_pb2.PackageReport) -> InstanceState | None:
    """What a node's report of one package means for placement (None: nothing held)."""
    if report.halt_unclean:
        return InstanceState.UNCLEAN
    return INSTANCE_OF.get(report.state)


def flags_from_pb(msg: package_pb2.PackageFlags) -> Flags:
    return Flags(
        epoch=msg.epoch,
        seq=msg.seq,
        packages=tuple(
            Flag(
                package=f.package_name,
                auto_run=f.auto_run,
                disabled=frozenset(f.disabled_nodes),
                failed=frozenset(f.failed_nodes),
                maintenance=f.maintenance_node,
                home=f.home,
                resume=f.resume_switching,
            )
            for f in msg.packages
        ),
    )


def flags_to_pb(flags: Flags) -> package_pb2.PackageFlags:
    return package_pb2.PackageFlags(
        epoch=flags.epoch,
        seq=flags.seq,
        packages=[
            package_pb2.PackageFlag(
                package_name=f.package,
                auto_run=f.auto_run,
                disabled_nodes=sorted(f.disabled),
                failed_nodes=sorted(f.failed),
                maintenance_node=f.maintenance,
                home=f.home,
                resume_switching=f.resume,
            )
            for f in flags.packages
        ],
    )


def report_from_pb(msg: package_pb2.NodePackages) -> NodeReport:
    held = []
    for item in msg.packages:
        state = instance_of(item)
        if state is not None:
            held.append(Held(item.package_name, state, item.last_error, item.ailing))
    return NodeReport(
        node=msg.node_name,
        epoch=msg.epoch,
        held=tuple(held),
        failed=tuple(msg.failed_packages),
        errors={i.package_name: i.last_error for i in msg.packages if i.last_error},
        halting=msg.halting,
        blocked=msg.blocked,
        flags=flags_from_pb(msg.flags),
        seq=msg.seq,
        boot=msg.boot,
    )
