"""Filesystem: fsck as configured, mount; on halt kill its users, then unmount.

Options follow Serviceguard's package variables: FS_MOUNT_OPT and FS_UMOUNT_OPT are
command-line options of mount(8)/umount(8) ("-o rw,noatime"), FS_FSCK_OPT of fsck(8).
fsck runs only when FS_FSCK_OPT is set (the package builder passes an empty one as
None: a journaled filesystem needs no check at every failover); it never asks anyone,
so "-p" (repair what is safe) or "-y" are the useful values.
"""

import asyncio
import os
import shlex
from dataclasses import dataclass, field

from cluster.resources import command, mmp, procs
from cluster.resources.base import Context, Health, Recovery, Resource, ResourceError
from cluster.resources.stopnow import StopNowAction, Unmount, umount2

# fsck(8) exit status bits: 1 errors corrected, 2 reboot advised, 4 errors left
# uncorrected, 8 operational error, 16 usage error, 32 cancelled, 128 library error.
FSCK_UNCORRECTED = 4
RELEASE_WAIT = 2.0  # seconds a halt waits for a lazily detached filesystem to go


@dataclass
class Filesystem(Resource):
    """FS_NAME[n] (device) on FS_DIRECTORY[n] (mount point)."""

    kind = "fs"
    device: str
    mount_point: str
    fs_type: str = ""  # FS_TYPE; "" lets mount(8) detect it
    mount_opt: str = ""  # FS_MOUNT_OPT
    umount_opt: str = ""  # FS_UMOUNT_OPT
    fsck_opt: str | None = None  # FS_FSCK_OPT; None: no fsck
    kill_grace: float = 2.0  # seconds between SIGTERM and SIGKILL of the users on halt
    _active: bool = field(default=False, init=False, repr=False)
    _package: str = field(default="", init=False, repr=False)
    # st_dev of this filesystem once a halt detached it lazily (0: it was not): it
    # stays active, the halt unclean, until the kernel lets the device go.
    _detached_dev: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.mount_point = os.path.normpath(self.mount_point)
        if not os.path.isabs(self.mount_point):
            raise ResourceError(
                f"mount point {self.mount_point!r} is not an absolute path", Recovery.FATAL
            )

    @property
    def label(self) -> str:
        return f"fs {self.mount_point}"

    @property
    def mmp_capable(self) -> bool:
        """ext2/3/4 (or detected by mount): the kinds that may carry an MMP block."""
        return self.fs_type in ("", "ext2", "ext3", "ext4")

    @property
    def active(self) -> bool:
        return self._active

    def _set_active(self, ctx: Context, active: bool) -> None:
        self._active = active
        ctx.on_change()

    async def _start(self, ctx: Context) -> None:
        self._package = ctx.package
        if not os.path.isdir(self.mount_point):
            raise ResourceError(f"mount point {self.mount_point} is not a directory", Recovery.HARD)
        current = await asyncio.to_thread(procs.mount_at, self.mount_point)
        if current is not None:
            if self._is_ours(current):
                ctx.log.info("%s is already mounted on %s", self.device, self.mount_point)
                self._set_active(ctx, True)
                return
            raise ResourceError(
                f"{self.mount_point} already has {current.source} mounted on it", Recovery.HARD
            )
        if ctx.takeover and self.mmp_capable:
            try:
                taken = await mmp.take_over(self.device, ctx.child_env(), ctx.mmp)
            except RuntimeError as exc:
                raise ResourceError(f"{exc}; not mounting it", Recovery.HARD) from None
            if taken:
                ctx.log.warning("%s", taken)
        if self.fsck_opt is not None:
            await self._fsck(ctx)
        argv = ["mount", *(["-t", self.fs_type] if self.fs_type else [])]
        argv += [*shlex.split(self.mount_opt), self.device, self.mount_point]
        self._set_active(ctx, True)  # a cancelled mount may still complete: stop-now covers it
        done = await command.run(argv, env=ctx.child_env(), timeout=None)
        if done.status != 0:
            self._set_active(ctx, False)
            raise ResourceError(
                f"mounting {self.device} on {self.mount_point} failed: "
                f"{done.brief() or f'exit {done.status}'}"
            )
        ctx.log.info("mounted %s on %s", self.device, self.mount_point)

    async def _fsck(self, ctx: Context) -> None:
        options = shlex.split(self.fsck_opt or "") or ["-p"]
        argv = ["fsck", *(["-t", self.fs_type] if self.fs_type else []), *options, self.device]
        done = await command.run(argv, env=ctx.child_env(), timeout=None)
        status = done.status if done.status is not None else -1
        if status < 0 or status >= FSCK_UNCORRECTED:
            raise ResourceError(
                f"fsck of {self.device} failed (exit {status}): "
                f"{done.brief() or 'no output'}; not mounting it",
                Recovery.HARD,
            )
        ctx.log.info(
            "fsck %s: %s", self.device, "clean" if status == 0 else f"repaired (exit {status})"
        )

    def _is_ours(self, mount: procs.Mount) -> bool:
        try:
            return os.stat(self.device).st_rdev == mount.dev
        except OSError:
            return mount.source == self.device

    async def _stop(self, ctx: Context) -> None:
        mount = await asyncio.to_thread(procs.mount_at, self.mount_point)
        if mount is None and self._detached_dev:
            await self._release(ctx)
            return
        if mount is None:
            ctx.log.info("%s was not mounted", self.mount_point)
            self._set_active(ctx, False)
            return
        left = await asyncio.to_thread(procs.kill_users, mount.dev, self.kill_grace)
        argv = ["umount", *shlex.split(self.umount_opt), self.mount_point]
        done = await command.run(argv, env=ctx.child_env(), timeout=None)
        if done.status != 0:
            ctx.log.warning("umount %s: %s; retrying", self.mount_point, done.brief())
            left = await asyncio.to_thread(procs.kill_users, mount.dev, 0.0)
            done = await command.run(["umount", "-f", self.mount_point], env=ctx.child_env())
        if done.status != 0:
            code = await asyncio.to_thread(umount2, self.mount_point, 2)  # MNT_DETACH
            still = ", ".join(map(str, left)) or "no process we can see (a mount below it?)"
            if code == 0:
                # Hidden, not gone: the filesystem lives on while they use it. It stays
                # active (the halt is unclean, the package held here) until it is let go.
                self._detached_dev = mount.dev
                ctx.on_change()
                raise ResourceError(
                    f"{self.mount_point} was detached lazily: still in use by {still}; "
                    f"{self.device} must not be mounted elsewhere until they exit"
                )
            raise ResourceError(
                f"cannot unmount {self.mount_point}: {done.brief()} (in use by {still})"
            )
        ctx.log.info("unmounted %s", self.mount_point)
        self._set_active(ctx, False)

    async def _release(self, ctx: Context) -> None:
        """A halt again after a lazy detach: kill what still uses the filesystem and
        wait (briefly) for the kernel to let the device go."""
        left = await asyncio.to_thread(procs.kill_users, self._detached_dev, self.kill_grace)
        if not await self._let_go(RELEASE_WAIT):
            still = ", ".join(map(str, left)) or "no process we can see (a mount below it?)"
            raise ResourceError(
                f"{self.device}, detached lazily from {self.mount_point}, is still in use "
                f"(by {still}); it must not be mounted elsewhere until it is let go"
            )
        ctx.log.info("%s, detached lazily before, is released", self.device)
        self._detached_dev = 0
        self._set_active(ctx, False)

    async def _let_go(self, wait: float) -> bool:
        """Whether the lazily detached filesystem is gone within `wait` seconds: the
        kernel no longer holds the device and, where it has an MMP block, that block
        says unmounted (MMP proves the disk free)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while await asyncio.to_thread(procs.detached_in_use, self.device, self._detached_dev):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        if not self.mmp_capable:
            return True
        block = await mmp.read_block(self.device)  # None: no MMP; the kernel's word stands
        return block is None or not block.in_use

    async def released(self, ctx: Context) -> bool:
        if not self._detached_dev or not await self._let_go(0.0):
            return False
        ctx.log.info(
            "%s, detached lazily from %s, is released: the halt is complete",
            self.device,
            self.mount_point,
        )
        self._detached_dev = 0
        self._set_active(ctx, False)
        return True

    async def monitor(self, ctx: Context) -> Health:
        if not self._active:
            return Health.failed(f"{self.mount_point} is not started")
        mount = await asyncio.to_thread(procs.mount_at, self.mount_point)
        if mount is None:
            return Health.failed(f"{self.mount_point} is no longer mounted")
        if not self._is_ours(mount):
            return Health.failed(f"{self.mount_point} now has {mount.source} mounted on it")
        return Health.healthy()

    def stop_now_actions(self) -> list[StopNowAction]:
        if not self._active:
            return []
        return [
            Unmount(
                self._package,
                self.label,
                self.mount_point,
                self.device,
                detached_dev=self._detached_dev,
            )
        ]
