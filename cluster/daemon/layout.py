"""The applied configuration as placement sees it (`core.session_model.Layout`): each
package's node list, type, policies, priority and dependencies."""

from cluster.config.model import Config, Package
from cluster.core.policy_model import (
    Condition,
    Dependency,
    FailbackPolicy,
    FailoverPolicy,
    Location,
    PackageSpec,
    PackageType,
)
from cluster.core.session_model import Layout


def spec_of(package: Package, config: Config) -> PackageSpec:
    return PackageSpec(
        name=package.name,
        nodes=package.eligible_nodes(config.cluster),
        type=PackageType(package.type),
        failover_policy=FailoverPolicy(package.failover_policy.lower()),
        failback_policy=FailbackPolicy(package.failback_policy.lower()),
        priority=package.priority,
        dependencies=tuple(
            Dependency(d.package, Condition(d.condition.lower()), Location(d.location.lower()))
            for d in package.dependencies
        ),
    )


def layout_of(config: Config | None, generation: int) -> Layout | None:
    if config is None:
        return None
    return Layout(
        generation=generation,
        nodes=tuple(n.name for n in config.cluster.nodes),
        packages=tuple(spec_of(p, config) for p in config.packages),
        auto_run={p.name: p.auto_run for p in config.packages},
        failure_timeout={
            p.name: p.failure_timeout_us * 1000 for p in config.packages if p.failure_timeout_us
        },
    )
