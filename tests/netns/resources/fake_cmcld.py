"""A stand-in for cmcld on a lab host, driving the real drivers and the real guard.

    python -m tests.netns.resources.fake_cmcld '{"root": ..., "vip": ..., ...}'

It starts the guard, starts a package (floating IP, filesystem, service) with the
stop-now plan published on every change, prints one JSON line `{"ready": ...}`, then
renews the lease deadline every `renew_ms` until the file `stop_file` appears (then it
stays alive without renewing). A test may also freeze it with SIGSTOP. When a renewal
fails because the guard fired, it prints `{"fired": "..."}` and idles; when a resource
fails (the service killed by stop-now is not restarted: the lease is gone), it prints
`{"failed": LABEL, "reason": ...}`.
"""

import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from cluster.guard.client import Guard, GuardError
from cluster.paths import HostPaths
from cluster.resources.base import Context, Resource
from cluster.resources.fs import Filesystem
from cluster.resources.ip import FloatingIP
from cluster.resources.service import Service
from cluster.resources.stopnow import build_plan


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def main(args: dict[str, object]) -> None:
    root, node = Path(str(args["root"])), str(args["node"])
    lease_ns = int(float(str(args["lease_ms"])) * 1e6)
    guard = Guard.start(
        HostPaths(root),
        node=node,
        margin_ns=int(float(str(args["margin_ms"])) * 1e6),
        command=[sys.executable, "-m", "cluster"],
        watchdog=str(args["watchdog"]) if args.get("watchdog") else None,
        watchdog_interval=0.05,
    )
    service = Service("app", str(args["service_cmd"]), restart=2, halt_timeout=1)
    resources: list[Resource] = [
        FloatingIP(str(args["vip"]), arp_count=1),
        Filesystem(str(args["device"]), str(args["mount_point"]), "ext4"),
        service,
    ]

    def publish() -> None:
        actions = [a for r in reversed(resources) for a in r.stop_now_actions()]
        guard.publish_plan(build_plan(node, actions))

    margin_ns = int(float(str(args["margin_ms"])) * 1e6)
    lease = {"deadline": time.monotonic_ns() + lease_ns}

    def may_run() -> bool:
        """As cmcld must judge it: the clock against the last deadline the guard
        accepted, and the guard still listening (it stops before it kills anything)."""
        return time.monotonic_ns() < lease["deadline"] - margin_ns and guard.listening()

    ctx = Context(
        package="pkg1",
        node=node,
        log=logging.getLogger("pkg1"),
        output=root / "pkg1.log",
        on_change=publish,
        on_failure=lambda resource, health: say(failed=resource.label, reason=health.reason),
        may_run=may_run,
    )
    guard.renew(lease["deadline"])
    for resource in resources:
        await resource.start(ctx)
    until = time.monotonic() + 2  # the guard reloads the plan on its own time
    while guard.status().plan_actions != 3 and time.monotonic() < until:
        await asyncio.sleep(0.01)
    say(ready=True, guard_pid=guard.pid, service_pgid=service.pid, plan=guard.status().plan_actions)
    stop_file = Path(str(args["stop_file"]))
    try:
        while not stop_file.exists():
            deadline = time.monotonic_ns() + lease_ns
            guard.renew(deadline)  # raises GuardFired once the guard has fired
            lease["deadline"] = deadline
            await asyncio.sleep(float(str(args["renew_ms"])) / 1e3)
        say(renewing=False)
        while True:
            await asyncio.sleep(3600)
    except GuardError as exc:
        say(fired=str(exc), kind=type(exc).__name__)
        while True:
            await asyncio.sleep(3600)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(json.loads(sys.argv[1])))
