"""A cluster file's NETWORK_INTERFACEs and addresses must be real on their nodes.

A misspelt interface or an address that belongs to no interface is otherwise silent: a
heartbeat path that never comes up, a standby that never takes anything over, local
LAN failover moving nothing. Which interfaces a node has is asked through the
`NetworkChecker` seam: cmcheckconf -C and cmapplyconf -C ask each node's cmcld
(GetNodeInfo); tests pass their own. Pure otherwise.
"""

from collections.abc import Mapping, Sequence
from typing import Protocol

from cluster.config.model import Cluster, address_of
from cluster.config.problems import Problems
from cluster.core.model import Interface


class NetworkChecker(Protocol):
    def interfaces(self, nodes: Sequence[str]) -> Mapping[str, Sequence[Interface] | str]:
        """For each node, its interfaces, or why it could not be asked."""
        ...


def check_node_networks(cluster: Cluster, checker: NetworkChecker, problems: Problems) -> None:
    """Every NETWORK_INTERFACE exists on its node and holds the addresses written under
    it (or a standby of that node does, where local LAN failover moved them)."""
    answers = checker.interfaces(cluster.node_names)
    for node in cluster.nodes:
        answer = answers.get(node.name, "no answer")
        if isinstance(answer, str):
            path, line = node.origin.where()
            problems.warn(path, line, f"could not check the networks of node {node.name}: {answer}")
            continue
        present = {i.name: i for i in answer if not i.loopback}
        holder = {str(address_of(a.address)): i.name for i in present.values() for a in i.addresses}
        standbys = {i.name for i in node.interfaces if i.standby}
        for interface in node.interfaces:
            if interface.name not in present:
                path, line = interface.origin.where()
                names = ", ".join(sorted(present)) or "none"
                problems.error(
                    path,
                    line,
                    f"NETWORK_INTERFACE {interface.name}: node {node.name} has no such "
                    f"interface (it has {names})",
                )
                continue
            for keyword, ips in (
                ("HEARTBEAT_IP", interface.heartbeat_ips),
                ("STATIONARY_IP", interface.stationary_ips),
            ):
                for index, ip in enumerate(ips):
                    problem = _address_problem(ip, interface.name, node.name, holder, standbys)
                    if problem:
                        path, line = interface.origin.where(keyword, index)
                        problems.error(path, line, f"{keyword} {ip}: {problem}")


def _address_problem(
    ip: str, interface: str, node: str, holder: Mapping[str, str], standbys: set[str]
) -> str:
    where = holder.get(str(address_of(ip)))
    if where is None:
        return f"not an address of node {node}"
    if where != interface and where not in standbys:
        return f"it is on {where} of node {node}, not on {interface}"
    return ""
