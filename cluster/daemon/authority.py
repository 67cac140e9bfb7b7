"""What cmcld knows that decides who may call it: the nodes of its applied
configuration, the coordinator of its current epoch, and the configuration's
access-control policies (the transport's Authority, see transport/auth.py)."""

from collections.abc import Callable

from cluster.config.model import Config
from cluster.core.messages import Membership
from cluster.daemon.configstore import ConfigStore
from cluster.security.access import AccessRules, Policy, normal_address
from cluster.security.authorization import Standing
from cluster.security.identity import Role


def access_rules(node: str, config: Config | None) -> AccessRules:
    """The access-control policies of `config`, with the addresses they refer to."""
    if config is None:
        return AccessRules(node)
    policies = tuple(
        Policy(p.users, p.host, Role[p.role.upper()]) for p in config.cluster.access_policies
    )
    policies += tuple(
        Policy(p.users, p.host, Role[p.role.upper()], package.name)
        for package in config.packages
        for p in package.access_policies
    )
    addresses = {
        n.name: frozenset(normal_address(ip.split("/")[0]) for ip in n.ips)
        for n in config.cluster.nodes
    }
    return AccessRules(node, policies, addresses)


class NodeAuthority:
    """Reads the applied configuration and the decided membership at each call, so a
    change counts from the next call on; the policies are rebuilt only when the
    configuration changes (a ConfigStore listener)."""

    def __init__(self, node: str, store: ConfigStore, decided: Callable[[], Membership]) -> None:
        self._node = node
        self._store = store
        self._decided = decided
        self._rules = access_rules(node, store.config)
        store.listeners.append(self.reconfigure)

    def reconfigure(self) -> None:
        self._rules = access_rules(self._node, self._store.config)

    def standing(self) -> Standing:
        config = self._store.config
        configured = frozenset(config.cluster.node_names) if config is not None else None
        decided = self._decided()
        member = self._node in decided.members
        return Standing(
            configured,
            self._store.generation,
            decided.epoch if member else 0,
            decided.coordinator if member else "",
        )

    def access(self) -> AccessRules:
        return self._rules
