"""OCF resource agents (the Open Cluster Framework API that Pacemaker's agents follow).

An agent is the executable `$OCF_ROOT/resource.d/PROVIDER/AGENT`, called with the
action as its only argument and its parameters as OCF_RESKEY_* variables, next to
OCF_ROOT, OCF_RESOURCE_INSTANCE/TYPE/PROVIDER and OCF_RA_VERSION_*. Exit codes follow
the spec: 0 success, 1 generic error, 2 bad arguments, 3 unimplemented, 4 no
permission, 5 not installed, 6 not configured, 7 not running, 8 running promoted,
9 failed promoted (and 190/191 degraded). Errors carry the recovery type Pacemaker
gives them: soft (retry), hard (not on this node), fatal (not anywhere).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cluster.resources import command
from cluster.resources.base import Context, Health, Recovery, Resource, ResourceError
from cluster.resources.stopnow import OcfStop, StopNowAction

OCF_ROOT = "/usr/lib/ocf"
SUCCESS, NOT_RUNNING, RUNNING_PROMOTED, FAILED_PROMOTED = 0, 7, 8, 9
DEGRADED, DEGRADED_PROMOTED = 190, 191
CODES: dict[int, tuple[str, str, Recovery]] = {
    0: ("OCF_SUCCESS", "success", Recovery.SOFT),
    1: ("OCF_ERR_GENERIC", "generic error", Recovery.SOFT),
    2: ("OCF_ERR_ARGS", "invalid arguments", Recovery.HARD),
    3: ("OCF_ERR_UNIMPLEMENTED", "action not implemented", Recovery.HARD),
    4: ("OCF_ERR_PERM", "insufficient permissions", Recovery.HARD),
    5: ("OCF_ERR_INSTALLED", "not installed", Recovery.HARD),
    6: ("OCF_ERR_CONFIGURED", "not configured", Recovery.FATAL),
    7: ("OCF_NOT_RUNNING", "not running", Recovery.SOFT),
    8: ("OCF_RUNNING_PROMOTED", "running promoted", Recovery.SOFT),
    9: ("OCF_FAILED_PROMOTED", "failed (promoted)", Recovery.SOFT),
    190: ("OCF_DEGRADED", "running degraded", Recovery.SOFT),
    191: ("OCF_DEGRADED_PROMOTED", "running promoted, degraded", Recovery.SOFT),
}


def explain(status: int | None) -> str:
    """ "exit 5 (OCF_ERR_INSTALLED: not installed)" """
    if status is None:
        return "timed out"
    if status < 0:
        return command.describe_exit(status)
    name, meaning, _ = CODES.get(status, ("", "", Recovery.SOFT))
    return f"exit {status} ({name}: {meaning})" if name else f"exit {status}"


def recovery_of(status: int | None) -> Recovery:
    if status is None or status not in CODES:
        return Recovery.SOFT
    return CODES[status][2]


@dataclass
class OcfAgent(Resource):
    """One OCF agent instance of a package."""

    kind = "ocf"
    provider: str  # "heartbeat", "pacemaker", ...
    agent: str  # "Dummy", "IPaddr2", ...
    instance: str  # OCF_RESOURCE_INSTANCE: unique in the cluster
    params: Mapping[str, str] = field(default_factory=dict)  # OCF_RESKEY_<name>
    ocf_root: str = OCF_ROOT
    start_timeout: float = 20.0
    stop_timeout: float = 20.0
    monitor_timeout: float = 20.0
    stop_now_timeout: float = 2.0
    _active: bool = field(default=False, init=False, repr=False)
    _package: str = field(default="", init=False, repr=False)
    _package_env: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    @property
    def label(self) -> str:
        return f"ocf {self.provider}:{self.agent} {self.instance}"

    @property
    def active(self) -> bool:
        return self._active

    @property
    def path(self) -> str:
        return os.path.join(self.ocf_root, "resource.d", self.provider, self.agent)

    def environment(self, timeout: float) -> dict[str, str]:
        env = {
            "OCF_ROOT": self.ocf_root,
            "OCF_RA_VERSION_MAJOR": "1",
            "OCF_RA_VERSION_MINOR": "1",
            "OCF_RESOURCE_INSTANCE": self.instance,
            "OCF_RESOURCE_TYPE": self.agent,
            "OCF_RESOURCE_PROVIDER": self.provider,
            "OCF_RESKEY_CRM_meta_timeout": str(int(timeout * 1000)),
        }
        env.update({f"OCF_RESKEY_{k}": str(v) for k, v in self.params.items()})
        return env

    async def action(self, ctx: Context, name: str, timeout: float) -> command.Finished:
        """Run one agent action; its output is returned and added to the package log."""
        if not os.access(self.path, os.X_OK):
            raise ResourceError(
                f"{self.label}: agent {self.path} is missing or not executable",
                Recovery.HARD,
            )
        done = await command.run(
            [self.path, name], env=ctx.child_env(self.environment(timeout)), timeout=timeout
        )
        if done.output and ctx.output is not None:
            # Captured first (so errors can quote the agent), then kept in the package log.
            with ctx.output.open("a") as log:
                log.write(done.output if done.output.endswith("\n") else done.output + "\n")
        return done

    def _fail(self, name: str, done: command.Finished) -> ResourceError:
        detail = f": {done.brief()}" if done.brief() else ""
        return ResourceError(
            f"{self.label} {name}: {explain(done.status)}{detail}", recovery_of(done.status)
        )

    async def _start(self, ctx: Context) -> None:
        self._package, self._package_env = ctx.package, dict(ctx.env)
        self._active = True
        ctx.on_change()
        done = await self.action(ctx, "start", self.start_timeout)
        if done.status != SUCCESS:
            raise self._fail("start", done)
        ctx.log.info("%s started", self.label)

    async def _stop(self, ctx: Context) -> None:
        done = await self.action(ctx, "stop", self.stop_timeout)
        if done.status not in (SUCCESS, NOT_RUNNING):
            raise self._fail("stop", done)
        ctx.log.info("%s stopped", self.label)
        self._active = False
        ctx.on_change()

    async def monitor(self, ctx: Context) -> Health:
        try:
            done = await self.action(ctx, "monitor", self.monitor_timeout)
        except ResourceError as exc:
            return Health.failed(str(exc))
        if done.status in (SUCCESS, RUNNING_PROMOTED, DEGRADED, DEGRADED_PROMOTED):
            note = "" if done.status == SUCCESS else explain(done.status)
            return Health.healthy(note)
        return Health.failed(f"{self.label} monitor: {explain(done.status)}")

    def stop_now_actions(self) -> list[StopNowAction]:
        if not self._active:
            return []
        env = {**self._package_env, **self.environment(self.stop_now_timeout)}
        return [OcfStop(self._package, self.label, self.path, env, self.stop_now_timeout)]
