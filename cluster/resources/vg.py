"""LVM volume group with exclusive activation by ownership tag (Serviceguard for Linux).

The owner of a volume group is the node whose name is its LVM tag (with lvm.conf's
`volume_list = ["@<node>", ...]` or hosttags, LVM itself then refuses activation on
other hosts). Start refuses a group tagged by another node unless the runner says its
lease has surely ended (`Context.takeover`), then tags it with this node and activates
it; halt deactivates and removes the tag.

Activation needs the kernel's device-mapper; without it (no /dev/mapper/control) the
driver says so instead of letting vgchange fail obscurely.
"""

import asyncio
import errno
import os
from dataclasses import dataclass, field

from cluster.resources import command
from cluster.resources.base import Context, Health, Recovery, Resource, ResourceError
from cluster.resources.stopnow import DeactivateVG, StopNowAction

DM_CONTROL = "/dev/mapper/control"
LVM_ENV = {"LVM_SUPPRESS_FD_WARNINGS": "1", "LANG": "C"}


def device_mapper_problem() -> str | None:
    """Why LVs cannot be activated on this host, or None when device-mapper works."""
    try:
        fd = os.open(DM_CONTROL, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            return f"no device-mapper on this host ({DM_CONTROL}: {exc.strerror})"
        return f"{DM_CONTROL}: {exc.strerror}"
    os.close(fd)
    return None


@dataclass
class VolumeGroup(Resource):
    """VG[n] of a package."""

    kind = "vg"
    name: str
    devices: tuple[str, ...] = ()  # restrict LVM's scan to these PVs (--devices); () = all
    command_timeout: float = 30.0
    _active: bool = field(default=False, init=False, repr=False)
    _package: str = field(default="", init=False, repr=False)
    _node: str = field(default="", init=False, repr=False)

    @property
    def label(self) -> str:
        return f"vg {self.name}"

    @property
    def active(self) -> bool:
        return self._active

    def _set_active(self, ctx: Context, active: bool) -> None:
        self._active = active
        ctx.on_change()

    async def _lvm(self, ctx: Context, *args: str) -> command.Finished:
        devices = [arg for d in self.devices for arg in ("--devices", d)]
        argv = [args[0], *devices, *args[1:]]
        return await command.run(argv, env=ctx.child_env(LVM_ENV), timeout=self.command_timeout)

    async def _checked(self, ctx: Context, *args: str) -> str:
        done = await self._lvm(ctx, *args)
        if done.status != 0:
            why = "timed out" if done.timed_out else done.brief() or f"exit {done.status}"
            raise ResourceError(f"{' '.join(args)}: {why}")
        return done.output

    async def tags(self, ctx: Context) -> set[str]:
        out = await self._checked(
            ctx, "vgs", "--noheadings", "--separator", ",", "-o", "vg_tags", self.name
        )
        return {t.strip() for t in out.replace("\n", ",").split(",") if t.strip()}

    async def _start(self, ctx: Context) -> None:
        self._package, self._node = ctx.package, ctx.node
        tags = await self.tags(ctx)
        others = sorted(tags - {ctx.node})
        if others and not ctx.takeover:
            raise ResourceError(
                f"volume group {self.name} is owned by {', '.join(others)} (LVM tag); not "
                f"activating it here while that node may still hold it",
                Recovery.HARD,
            )
        self._set_active(ctx, True)  # from here on, stop-now deactivates and untags it
        for other in others:
            ctx.log.warning("taking volume group %s over from %s", self.name, other)
            await self._checked(ctx, "vgchange", "--deltag", other, self.name)
        if ctx.node not in tags:
            await self._checked(ctx, "vgchange", "--addtag", ctx.node, self.name)
        problem = await asyncio.to_thread(device_mapper_problem)
        try:
            if problem:
                raise ResourceError(
                    f"cannot activate volume group {self.name}: {problem}", Recovery.HARD
                )
            await self._checked(ctx, "vgchange", "-a", "y", self.name)
        except ResourceError:
            await self._lvm(ctx, "vgchange", "--deltag", ctx.node, self.name)
            self._set_active(ctx, False)
            raise
        ctx.log.info("activated volume group %s (tag %s)", self.name, ctx.node)

    async def _stop(self, ctx: Context) -> None:
        if device_mapper_problem() is None:
            await self._checked(ctx, "vgchange", "-a", "n", self.name)
        if ctx.node in await self.tags(ctx):
            await self._checked(ctx, "vgchange", "--deltag", ctx.node, self.name)
        ctx.log.info("deactivated volume group %s", self.name)
        self._set_active(ctx, False)

    async def monitor(self, ctx: Context) -> Health:
        if not self._active:
            return Health.failed(f"volume group {self.name} is not started")
        try:
            tags = await self.tags(ctx)
            if tags != {ctx.node}:
                owners = ", ".join(sorted(tags)) or "nobody"
                return Health.failed(f"volume group {self.name} is now tagged for {owners}")
            out = await self._checked(ctx, "lvs", "--noheadings", "-o", "lv_active", self.name)
        except ResourceError as exc:
            return Health.failed(str(exc))
        inactive = [x for x in out.splitlines() if x.strip() and x.strip() != "active"]
        if inactive:
            return Health.failed(f"volume group {self.name}: {len(inactive)} LV(s) not active")
        return Health.healthy()

    def stop_now_actions(self) -> list[StopNowAction]:
        if not self._active:
            return []
        return [DeactivateVG(self._package, self.label, self.name, self._node, self.devices)]
