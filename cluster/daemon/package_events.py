"""This node's package events for the alert scripts (cluster/core/events.py): starting,
started, halted, failed, and a service restarted or failed, each stamped with the node
and its current epoch."""

from collections.abc import Callable

from cluster.core import events as alert
from cluster.packages.runner import Outcome


class PackageEvents:
    def __init__(self, node: str, epoch: Callable[[], int]) -> None:
        self.node = node
        self._epoch = epoch
        self.emit: Callable[[alert.Event], None] = lambda event: None  # the alert runner

    def package(
        self, kind: alert.Kind, package: str, reason: str, old: str = "", new: str = ""
    ) -> None:
        self.emit(self._event(kind, package, reason, (old, new)))

    def service(self, kind: alert.Kind, package: str, service: str, reason: str) -> None:
        old, new = ("running", "failed") if kind is alert.Kind.SERVICE_FAILED else ("", "")
        self.emit(self._event(kind, package, reason, (old, new), service))

    def halted(self, package: str, outcome: Outcome, reason: str) -> None:
        """A halt done: halted, or failed when it could not release everything."""
        if outcome.clean:
            self.package(alert.Kind.PACKAGE_HALTED, package, reason, "running", "halted")
        else:
            self.package(alert.Kind.PACKAGE_FAILED, package, outcome.detail, "halting", "unclean")

    def _event(
        self,
        kind: alert.Kind,
        package: str,
        reason: str,
        states: tuple[str, str],
        service: str = "",
    ) -> alert.Event:
        old, new = states
        return alert.Event(
            kind,
            node=self.node,
            package=package,
            service=service,
            epoch=self._epoch(),
            old=old,
            new=new,
            reason=reason,
        )
