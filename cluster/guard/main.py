"""cmguard: the lease guard process (internal; cmcld starts it, never an operator).

It waits on the command FIFO until `deadline - margin`. A renewal moves the deadline;
if none arrives in time it executes the stop-now plan at once, stops feeding the
watchdog (so the host resets where one is configured), and records what it did. It
raises its own priority (SCHED_FIFO, locked memory, OOM-exempt) where permitted and
imports nothing heavy, so it acts even when cmcld is frozen, hung or dead.
"""

import argparse
import contextlib
import ctypes
import os
import select
import signal
import time
from pathlib import Path
from typing import Any

from cluster.cli.args import bounded_float, bounded_int
from cluster.guard import protocol as p
from cluster.guard.watchdog import Watchdog
from cluster.paths import HostPaths, local_node_name
from cluster.resources import stopnow, stoptimes

MCL_CURRENT, MCL_FUTURE = 1, 2
IDLE_WAKEUP = 0.5  # seconds: the longest sleep, so signals and exits are seen soon


class GuardLog:
    """Appends lines to the guard's own log: no logging module, no threads."""

    def __init__(self, path: Path, node: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.prefix = f" {node} cmguard[{os.getpid()}]: "

    def __call__(self, message: str) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        line = f"{stamp}.{int(now % 1 * 1000):03d}{self.prefix}{message}\n"
        with contextlib.suppress(OSError):
            os.write(self.fd, line.encode())


def raise_priority(rt_priority: int) -> dict[str, str]:
    """Run before anything else on the machine; report what the kernel allowed."""
    done: dict[str, str] = {}
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(rt_priority))
        done["sched_fifo"] = str(rt_priority)
    except OSError as exc:
        done["sched_fifo"] = f"refused: {exc.strerror}"
        try:
            os.setpriority(os.PRIO_PROCESS, 0, -20)
            done["nice"] = "-20"
        except OSError as nice_exc:
            done["nice"] = f"refused: {nice_exc.strerror}"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mlockall(MCL_CURRENT | MCL_FUTURE) == 0:
        done["mlockall"] = "yes"
    else:
        done["mlockall"] = f"refused: {os.strerror(ctypes.get_errno())}"
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
        done["oom_score_adj"] = "-1000"
    except OSError as exc:
        done["oom_score_adj"] = f"refused: {exc.strerror}"
    return done


class Guard:
    def __init__(
        self,
        files: p.GuardFiles,
        *,
        node: str,
        margin_ns: int,
        log: GuardLog,
        watchdog: Watchdog | None,
        priority: dict[str, str],
    ) -> None:
        self.files, self.node, self.margin_ns, self.log = files, node, margin_ns, log
        self.watchdog, self.priority = watchdog, priority
        self.state = p.STARTING
        self.deadline_ns = 0
        self.generation = 0
        self.plan = self._load_plan(stopnow.Plan(node))
        self.fired: dict[str, Any] | None = None
        self.exit_requested = False
        self.signals: list[int] = []
        self.fd = os.open(files.fifo, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self.pending = b""

    def _load_plan(self, current: stopnow.Plan) -> stopnow.Plan:
        try:
            return stopnow.load_plan(self.files.plan, self.node)
        except (OSError, stopnow.PlanError) as exc:
            self.log(f"keeping the previous plan: cannot load {self.files.plan}: {exc}")
            return current

    def write_status(self) -> None:
        status = {
            "pid": os.getpid(),
            "node": self.node,
            "state": self.state,
            "deadline_ns": self.deadline_ns,
            "margin_ns": self.margin_ns,
            "plan_generation": self.generation,
            "plan_actions": len(self.plan.actions),
            "priority": self.priority,
            "watchdog": None if self.watchdog is None else self.watchdog.status(),
            "fired": self.fired,
            "updated_ns": time.monotonic_ns(),
        }
        try:
            p.write_json(self.files.status, status)
        except OSError as exc:
            self.log(f"cannot write {self.files.status}: {exc}")

    def _become(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.write_status()

    def drain(self) -> None:
        """Apply every command waiting in the FIFO."""
        while self.fd >= 0:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            records, self.pending = p.decode(self.pending + chunk)
            for command, value in records:
                self.apply(command, value)

    def apply(self, command: int, value: int) -> None:
        if self.state == p.FIRED or command == p.NOP:
            return  # nothing undoes a stop-now but a new guard
        if command == p.RENEW:
            self.deadline_ns = value
            if self.watchdog is not None:
                self.watchdog.armed(value)
            if self.state != p.ARMED:
                self.log(f"armed: deadline in {(value - time.monotonic_ns()) / 1e6:.0f} ms")
                self._become(p.ARMED)
        elif command == p.MARGIN:
            self.margin_ns = value
            self.write_status()
        elif command in (p.WATCHDOG_LIMIT, p.LEASE):
            watchdog = self.watchdog
            if watchdog is None:
                return
            limit = value if command == p.WATCHDOG_LIMIT else watchdog.limit_ns
            lease = value if command == p.LEASE else watchdog.lease_ns
            if (limit, lease) != (watchdog.limit_ns, watchdog.lease_ns) or watchdog.pending:
                message = watchdog.fit(limit, lease, time.monotonic_ns())
                if limit and lease:
                    self.log(message)
                self.write_status()
        elif command == p.PLAN:
            self.generation = value
            self.plan = self._load_plan(self.plan)
            self.write_status()
        elif command in (p.DISARM, p.EXIT):
            if self.state == p.ARMED:
                self.log("disarmed")
            self.deadline_ns = 0
            if self.watchdog is not None:
                self.watchdog.armed(None)
            self._become(p.IDLE)
            self.exit_requested = command == p.EXIT
        else:
            self.log(f"ignoring unknown command {command}")

    def fire(self) -> None:
        """The deadline minus the margin passed without renewal: stop now."""
        fired_ns = time.monotonic_ns()
        self.state = p.FIRED
        if self.watchdog is not None:
            self.watchdog.feeding = False  # the host resets when the device's timer ends
        os.close(self.fd)  # cmcld's next renewal fails with EPIPE: it learns at once
        self.fd = -1
        report = stopnow.execute(self.plan)
        late_ns = report.finished_ns - self.deadline_ns
        bounds = stopnow.package_bounds(self.plan)
        self.fired = {
            "node": self.node,
            "deadline_ns": self.deadline_ns,
            "margin_ns": self.margin_ns,
            "fired_ns": fired_ns,
            "late_ns": late_ns,  # > 0: finished after the deadline
            "wall_time": time.time(),
            "plan_generation": self.generation,
            "bounds_ms": {pkg: round(b / 1e6, 3) for pkg, b in bounds.items()},
            "report": report.to_dict(),
        }
        self.log(
            f"lease deadline passed without renewal: stop-now of {report.summary(self.margin_ns)}"
            f", finished {abs(late_ns) / 1e6:.1f} ms "
            f"{'AFTER' if late_ns > 0 else 'before'} the deadline"
        )
        for o in report.outcomes:
            self.log(
                f"  {o.package}: {o.label}: {'ok' if o.ok else 'FAILED'} "
                f"({o.elapsed_ns / 1e6:.2f} ms) {o.detail}"
            )
        for package, took in report.package_times().items():
            bound = bounds.get(package, took)
            if took > bound:
                self.log(f"  {package}: {stopnow.ms(took)}, beyond its bound {stopnow.ms(bound)}")
        earlier = p.read_json(self.files.fired)
        if earlier is not None and not (earlier.get("report") or {}).get("clean", False):
            # cmcld's own stop-now was not clean: its record stands until an operator
            # removes it, whatever this one found (a lazy unmount looks done).
            self.log(f"an unclean stop-now record stands in {self.files.fired}: kept")
        else:
            try:
                p.write_json(self.files.fired, self.fired)
            except OSError as exc:
                self.log(f"cannot record the stop-now in {self.files.fired}: {exc}")
        try:
            stoptimes.record_times(self.files.times, report, by="guard", margin_ns=self.margin_ns)
        except OSError as exc:
            self.log(f"cannot record the stop-now figures in {self.files.times}: {exc}")
        self.write_status()

    def _wakeup_in(self, now_ns: int) -> float:
        wait = IDLE_WAKEUP
        if self.state == p.ARMED:
            wait = min(wait, (self.deadline_ns - self.margin_ns - now_ns) / 1e9)
        watchdog = self.watchdog
        if watchdog is not None and watchdog.feeding:
            rule = watchdog.rule
            if self.state == p.ARMED and rule is not None:
                # The next feed without a renewal; once that is refused, only a renewal
                # (the FIFO) or the deadline wakes us: never a busy loop at RT priority.
                due = rule.due()
                if due is not None and rule.fresh():
                    due = min(due, rule.feeds[-1] + rule.timeout // 2)
                if due is not None and due > now_ns and rule.allowed():
                    wait = min(wait, (due - now_ns) / 1e9)
            else:
                wait = min(wait, watchdog.next_feed - now_ns / 1e9)
        return max(0.0, wait)

    def run(self) -> int:
        self._become(p.IDLE)
        self.log(f"started ({', '.join(f'{k} {v}' for k, v in self.priority.items())})")
        while not self.exit_requested:
            now = time.monotonic_ns()
            if self.state == p.ARMED and now >= self.deadline_ns - self.margin_ns:
                self.drain()  # a renewal may be waiting: the last chance
                if (
                    self.state == p.ARMED
                    and time.monotonic_ns() >= self.deadline_ns - self.margin_ns
                ):
                    self.fire()
                continue
            self._feed(now)
            readable = [self.fd] if self.fd >= 0 else []
            ready, _, _ = select.select(readable, [], [], self._wakeup_in(time.monotonic_ns()))
            if ready:
                self.drain()
            self._handle_signals()
        if self.watchdog is not None:
            self.watchdog.close(disarm=self.state != p.FIRED)
        self.log(f"exiting ({self.state})")
        if self.state != p.FIRED:
            self._become(p.EXITED)
        return 0

    def _feed(self, now_ns: int) -> None:
        """Feed when due; while armed with a device that protects, as its rule allows
        (renewals, and the feeds a frozen host's reset by the deadline still permits)."""
        watchdog = self.watchdog
        if watchdog is None or not watchdog.feeding:
            return
        if watchdog.pending and (watchdog.rule is None or watchdog.rule.allowed()):
            self.log(watchdog.fit(watchdog.limit_ns, watchdog.lease_ns, now_ns))
            self.write_status()
        if self.state == p.ARMED and watchdog.rule is not None:
            if watchdog.rule.should_feed(now_ns):
                watchdog.feed(now_ns)
        elif now_ns / 1e9 >= watchdog.next_feed:
            watchdog.feed(now_ns)

    def _handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.pop()
            name = signal.Signals(signum).name
            if self.state == p.ARMED:
                self.log(f"ignoring {name} while armed: cmcld must disarm the guard first")
            else:
                self.log(f"{name} received")
                self.exit_requested = True


def main(argv: list[str], prog: str) -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Internal: the lease guard that cmcld starts. It performs the stop-now "
        "plan when cmcld stops renewing the lease. Do not run it by hand.",
    )
    parser.add_argument("--node", help="node name (default: CMCLUSTER_NODE or host name)")
    parser.add_argument(
        "--margin-ms", type=bounded_float(0, 600_000), default=200.0, help="STOP_MARGIN"
    )
    parser.add_argument("--watchdog", help="watchdog device to feed (WATCHDOG_DEVICE)")
    parser.add_argument(
        "--watchdog-interval", type=bounded_float(0.01, 3600), default=1.0, help="seconds"
    )
    parser.add_argument(
        "--watchdog-timeout", type=bounded_int(1, 65535), help="device timeout to set, s"
    )
    parser.add_argument(
        "--rt-priority", type=bounded_int(1, 99), default=20, help="SCHED_FIFO priority"
    )
    args = parser.parse_args(argv)
    node = local_node_name(args.node)
    files = p.GuardFiles.from_paths(HostPaths(HostPaths.from_env().root.resolve()))
    os.chdir("/")  # never keep a package filesystem busy
    log = GuardLog(files.log, node)
    guard_ref: list[Guard] = []

    def on_signal(signum: int, _frame: object) -> None:
        if guard_ref:
            guard_ref[0].signals.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    priority = raise_priority(args.rt_priority)
    watchdog = None
    if args.watchdog:
        try:
            watchdog = Watchdog(args.watchdog, args.watchdog_interval, args.watchdog_timeout)
        except OSError as exc:
            log(f"cannot open watchdog {args.watchdog}: {exc.strerror or exc}")
            print(f"{prog}: cannot open watchdog {args.watchdog}: {exc.strerror or exc}")
            return 1
    guard = Guard(
        files,
        node=node,
        margin_ns=int(args.margin_ms * 1e6),
        log=log,
        watchdog=watchdog,
        priority=priority,
    )
    guard_ref.append(guard)
    return guard.run()
