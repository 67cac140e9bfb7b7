"""Package placement on the coordinator of the current epoch: the IO around the core's
placement session (`cluster.core.session`, DESIGN.md section 3), as the membership
driver is around `MemberNode`.

It feeds the session the decided memberships, the applied configuration, members'
reports, action outcomes, takeover times and operator commands, and performs what the
session returns: ask a member for its report, send an action (or perform it here),
store and replicate the switching flags, answer a command, log, wake up later. The
decisions are all the session's; this module only waits and talks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from cluster.config.model import Config, Package
from cluster.core.events import Event
from cluster.core.messages import Membership
from cluster.core.policy_model import (
    Action,
    ActionKind,
    HaltRequest,
    InstanceState,
    Outcome,
    Request,
    RunRequest,
)
from cluster.core.session import PlacementSession
from cluster.core.session_model import (
    ActionDone,
    ActionLost,
    ActionRefused,
    Ask,
    Configured,
    Decided,
    HaltAll,
    Modify,
    Notify,
    Order,
    Publish,
    Reply,
    Reported,
    ReportMissing,
    Requested,
    Say,
    SessionEffect,
    SessionEvent,
    TakeoverAt,
    Wake,
    WakeAt,
)
from cluster.daemon.background import report_end
from cluster.daemon.distribute import node_addresses
from cluster.daemon.layout import layout_of
from cluster.daemon.packages import LocalPackages
from cluster.daemon.preview import preview_command, previewed
from cluster.errors import CmError, Unreachable
from cluster.pb.v1 import package_pb2
from cluster.transport.convert_session import (
    MAINTENANCE,
    flags_from_pb,
    flags_to_pb,
    report_from_pb,
)
from cluster.transport.peers import PeerDialer

log = logging.getLogger("cmcld.coordinator")

RPC_TIMEOUT = 5.0
ACTION_SLACK = 60.0  # beyond the package's own script and service timeouts
COMMAND_TIMEOUT = 900.0
LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class Coordinator:
    def __init__(
        self,
        *,
        node: str,
        config: Callable[[], Config | None],
        generation: Callable[[], int],
        packages: LocalPackages,
        dialer: PeerDialer,
    ) -> None:
        self.node = node
        self._config = config
        self._generation = generation
        self._local = packages
        self._dialer = dialer
        self.session = PlacementSession(
            node, layout_of(config(), generation()), flags_from_pb(packages.flags)
        )
        self._tickets = itertools.count(1)
        self._answers: dict[int, asyncio.Future[tuple[Outcome, str]]] = {}
        self._changed = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_event: Callable[[Event], None] = lambda event: None  # alert scripts

    # -- what the rest of the daemon reads ----------------------------------------------

    @property
    def active(self) -> bool:
        return self.session.active

    @property
    def epoch(self) -> int:
        return self.session.epoch

    @property
    def reasons(self) -> dict[str, str]:
        return self.session.reasons

    def held(self, name: str) -> dict[str, InstanceState]:
        return self.session.held(name, time.monotonic_ns())

    def where(self, name: str) -> list[str]:
        return self.session.where(name, time.monotonic_ns())

    def anything_held(self) -> bool:
        return self.session.anything_held(time.monotonic_ns())

    # -- events in ---------------------------------------------------------------------

    def on_decided(self, membership: Membership, previous: Membership | None = None) -> None:
        """Called for every decided membership (on every node), with the one before."""
        self._cancel_pending()
        flags = flags_from_pb(self._local.flags)
        self._feed(Decided(time.monotonic_ns(), membership, flags, previous))

    def on_takeover(self, node: str, epoch: int, at: int) -> None:
        self._feed(TakeoverAt(time.monotonic_ns(), node, epoch, at))

    def take_report(self, report: package_pb2.NodePackages) -> None:
        """A member's report (pushed, or an action's reply)."""
        self._feed(Reported(time.monotonic_ns(), report_from_pb(report)))

    def poke(self) -> None:
        """The applied configuration (or this node's flags) changed."""
        self.session.adopt(flags_from_pb(self._local.flags))
        self._feed(Configured(time.monotonic_ns(), layout_of(self._config(), self._generation())))

    def close(self) -> None:
        self._cancel_pending()
        self._perform(self.session.close("cmcld stopping"))

    def _cancel_pending(self) -> None:
        """Timers of the previous session (its asks and wake-ups) are dropped; actions in
        flight run on (a node stops what it was told only by its own rules), and their
        outcomes, stamped with the old epoch, are ignored by the next session."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _feed(self, event: SessionEvent) -> None:
        self._perform(self.session.handle(event))

    # -- effects out -------------------------------------------------------------------

    def _perform(self, effects: list[SessionEffect]) -> None:
        for effect in effects:
            if isinstance(effect, Ask):
                self._later(effect.at, self._ask, effect.node, effect.epoch)
            elif isinstance(effect, Order):
                self._spawn(self._send(effect.action, effect.generation), effect.action.describe())
            elif isinstance(effect, Publish):
                self._local.set_flags(flags_to_pb(effect.flags))
                if effect.push:
                    self._push_flags()
            elif isinstance(effect, Reply):
                answer = self._answers.pop(effect.ticket, None)
                if answer is not None and not answer.done():
                    answer.set_result((effect.outcome, effect.reason))
            elif isinstance(effect, Say):
                log.log(LEVELS.get(effect.level, logging.INFO), "%s", effect.text)
            elif isinstance(effect, WakeAt):
                self._later(effect.at, lambda: self._feed(Wake(time.monotonic_ns())))
            elif isinstance(effect, Notify):
                self.on_event(effect.event)
        self._changed.set()
        self._changed = asyncio.Event()

    def _later(self, at: int, fn: Callable[..., object], *args: object) -> None:
        delay = max(0.0, (at - time.monotonic_ns()) / 1e9)

        def fire() -> None:
            self._timers.discard(timer)
            fn(*args)

        timer = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(timer)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(report_end)

    def _ask(self, node: str, epoch: int) -> None:
        async def ask() -> None:
            try:
                if node == self.node:
                    reply = self._local.node_report()
                else:
                    reply = await self._dialer.call(
                        node,
                        node_addresses(node, self._config()),
                        "GetPackages",
                        package_pb2.GetPackagesRequest(epoch=epoch),
                        RPC_TIMEOUT,
                    )
            except CmError as exc:
                log.debug("package report of %s for epoch %d: %s", node, epoch, exc)
                reply = None
            now = time.monotonic_ns()
            if reply is None or reply.epoch != epoch:
                self._feed(ReportMissing(now, node, epoch))
            else:
                self._feed(Reported(now, report_from_pb(reply)))

        self._spawn(ask(), f"report-{node}")

    async def _send(self, action: Action, generation: int) -> None:
        config = self._config()
        order = package_pb2.PackageAction(
            epoch=action.epoch,
            config_generation=generation,
            package_name=action.package,
            kind=(
                package_pb2.PackageAction.KIND_START
                if action.kind is ActionKind.START
                else package_pb2.PackageAction.KIND_HALT
            ),
            reason=action.reason,
            modules=list(action.modules),
        )
        timeout = _action_timeout(config.package(action.package) if config else None)
        event: SessionEvent
        try:
            if action.node == self.node:
                await self._local.execute(order)
                report = report_from_pb(self._local.node_report())
                event = ActionDone(time.monotonic_ns(), action, report)
            else:
                reply = await self._dialer.call(
                    action.node,
                    node_addresses(action.node, config),
                    "ExecutePackageAction",
                    order,
                    timeout,
                )
                if reply.error:
                    event = ActionRefused(time.monotonic_ns(), action, reply.error)
                else:
                    event = ActionDone(time.monotonic_ns(), action)
        except Unreachable as exc:
            event = ActionLost(time.monotonic_ns(), action, str(exc))
        except CmError as exc:
            event = ActionRefused(time.monotonic_ns(), action, str(exc))
        self._feed(event)

    def _push_flags(self) -> None:
        membership, config = self.session.membership, self._config()
        if membership is None:
            return
        flags = self._local.flags
        for member in membership.members:
            if member == self.node:
                continue

            async def push(member: str = member) -> None:
                with contextlib.suppress(CmError):
                    await self._dialer.call(
                        member,
                        node_addresses(member, config),
                        "SetPackageFlags",
                        flags,
                        RPC_TIMEOUT,
                    )

            self._spawn(push(), f"flags-{member}")

    # -- operator commands ------------------------------------------------------------------

    async def command(self, request: package_pb2.PackageCommandRequest) -> AsyncIterator[str]:
        if not self.session.active:
            raise CmError("this node is no longer the coordinator: try the command again")
        if not self.session.ready:
            await self._wait(
                lambda: self.session.ready, 30.0, "gathering the members' package reports"
            )
        which = request.WhichOneof("command")
        who = request.operator or "an operator"
        if which == "evaluate" or previewed(request):
            async for line in self._preview(request):
                yield line
            return
        if which == "modify":
            modify = request.modify
            reason = await self._ask_session(
                lambda ticket: Modify(
                    time.monotonic_ns(),
                    ticket,
                    modify.package_name,
                    modify.enable,
                    tuple(modify.node_names),
                    who,
                    MAINTENANCE.get(modify.maintenance),
                ),
                f"cmmodpkg {modify.package_name}",
            )
            yield reason
        elif which == "run":
            run = request.run
            async for line in self._run_package(run.package_name, run.node_name, run.modules):
                yield line
        elif which == "halt":
            halt = request.halt
            async for line in self._halt_package(halt.package_name, halt.node_name, halt.modules):
                yield line
        elif which == "halt_all":
            self._feed(HaltAll(time.monotonic_ns()))
            yield "halting every package (cmhaltcl -f)"
            await self._wait(
                lambda: not self.anything_held(), COMMAND_TIMEOUT, "halting the packages"
            )
            yield "every package is halted"
        else:
            raise CmError("empty package command")

    async def _preview(self, request: package_pb2.PackageCommandRequest) -> AsyncIterator[str]:
        """-t and cmeval: the prediction from the live snapshot; nothing changes."""
        now = time.monotonic_ns()
        snap = self.session.snapshot(now)
        if request.WhichOneof("command") == "modify":
            modify = request.modify
            event = Modify(now, 0, modify.package_name, modify.enable, tuple(modify.node_names))
            problem = self.session.modify_problem(event)
            if problem:
                raise CmError(f"cmmodpkg {modify.package_name} would be refused: {problem}")
        lines, refused = await preview_command(snap, self._config(), request)
        for line in lines:
            yield line
        if refused:
            raise CmError(refused)

    def _package(self, name: str) -> Package:
        config = self._config()
        package = config.package(name) if config else None
        if package is None:
            raise CmError(f"package {name} is not configured (cmviewconf lists the packages)")
        return package

    async def _ask_session(self, make: Callable[[int], SessionEvent], what: str) -> str:
        ticket = next(self._tickets)
        answer: asyncio.Future[tuple[Outcome, str]] = asyncio.get_running_loop().create_future()
        self._answers[ticket] = answer
        try:
            self._feed(make(ticket))
            outcome, reason = await asyncio.wait_for(answer, COMMAND_TIMEOUT)
        finally:
            self._answers.pop(ticket, None)
        if outcome is Outcome.REFUSED:
            raise CmError(f"{what} refused: {reason}")
        return reason

    async def _ask_engine(self, request: Request) -> str:
        return await self._ask_session(
            lambda ticket: Requested(time.monotonic_ns(), ticket, request), request.describe()
        )

    async def _run_package(
        self, name: str, node: str, modules: Sequence[str] = ()
    ) -> AsyncIterator[str]:
        self._package(name)
        before = self.session.last_failure.get(name)
        failures_before = before.number if before else 0
        reason = await self._ask_engine(RunRequest(name, node or None, tuple(modules)))
        yield reason or f"{name}: starting"

        def done() -> bool:
            failure = self.session.last_failure.get(name)
            if failure is not None and failure.number > failures_before:
                raise CmError(f"package {name} failed to start on {failure.node}: {failure.detail}")
            where = self.where(name)
            return bool(where) and (not node or node in where)

        await self._wait(done, COMMAND_TIMEOUT, f"starting {name}")
        yield f"Package {name} is running on {', '.join(self.where(name))}"

    async def _halt_package(
        self, name: str, node: str, modules: Sequence[str] = ()
    ) -> AsyncIterator[str]:
        self._package(name)
        reason = await self._ask_engine(HaltRequest(name, node or None, tuple(modules)))
        yield reason or f"{name}: halting"

        def done() -> bool:
            held = self.held(name)
            if any(s is InstanceState.UNCLEAN for n, s in held.items() if not node or n == node):
                raise CmError(f"package {name} could not be halted cleanly: see its log")
            if modules:  # a partial halt: the package stays up where it is
                return InstanceState.HALTING not in held.values()
            return not any(not node or n == node for n in held)

        await self._wait(done, COMMAND_TIMEOUT, f"halting {name}")
        if modules:
            yield f"Package {name}: {', '.join(modules)} halted; the rest stays up"
            return
        yield f"Package {name} is halted" + (f" on {node}" if node else "")

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        epoch = self.session.epoch
        while not done():
            if not self.session.active or self.session.epoch != epoch:
                raise CmError(f"{what}: the cluster re-formed meanwhile; check cmviewcl")
            left = deadline - loop.time()
            if left <= 0:
                raise CmError(f"{what}: not done within {timeout:.0f} s; check cmviewcl")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))


def _action_timeout(package: Package | None) -> float:
    if package is None:
        return ACTION_SLACK
    total = ACTION_SLACK
    for us in (package.run_script_timeout_us, package.halt_script_timeout_us):
        total += (us or 0) / 1e6
    total += sum(s.halt_timeout_us for s in package.services) / 1e6
    return total
