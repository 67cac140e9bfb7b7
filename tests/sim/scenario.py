"""Scenarios as data: a small text format for hand-written simulator runs.

    # what the scenario shows, in a sentence
    nodes: a b c d
    quorum-server: yes            # default no
    member-timeout: 1s            # heartbeat:, proposal-step:, round-timeout: too
    boot-spread: 0ms              # nodes boot this far apart (default 1ms)
    clock-drift: 0ppm             # clock rates differ by at most this (default rho)
    tokens: 2
    seed: 7
    form: auto                    # or: form: cmruncl a [b c]  (cmruncl on a, -n b c)
    at 3s partition a b | c d     # qs, unless listed in a group, reaches every group
    at 3s crash a                 # restart a, pause a, resume a, heal, lossy 0.2,
                                  # cut a -> b (one way), cut a - b (both ways),
                                  # halt-node a, run-node a, halt-cluster a,
                                  # run-cluster a [b c], crash qs, restart qs,
                                  # drop Learn Decision (lose these message kinds),
                                  # keep qs (copy its state file), lose qs (stop it,
                                  # its state lost), rollback qs (stop it, its state
                                  # replaced by the copy kept)
    at 3s crash-daemon a          # cmcld alone (packages and guard run on); restart a
    at 3s freeze a                # cmcld, guard and clock stop together; thaw a
    at 3s stall a 2s              # a's disk completes no write for 2 s
    watchdog: yes                 # a frozen host is reset before its deadline (default no)
    stop-factor: 3                # a stop-now lasts up to 3 x STOP_MARGIN (default 0.5)
    stop-margin: 300ms            # STOP_MARGIN (default max(200 ms, MT/5))
    adopt-orphans: no             # the broken restart: a new cmcld ignores what runs
    address-probe: yes            # a start is refused while another host holds the address
    guardless: a                  # these hosts' lease guards cannot start
    legacy: publish-late          # old daemon rules to play back (see tests/sim/packages.py)
    start-time: 300ms             # every start takes up to this (a slow run script)
    unclean-halts: a 1s           # a's halts leave resources held for 1 s (lazy unmount)
    at 3s fail-packages a         # every package running on a fails there
    at 3s remove-package pkg1     # cmapplyconf (refused while pkg1 is held anywhere);
                                  # add-package pkg9, reorder-package pkg2 too
    expect 8s members a b | c d   # the newest decided membership is one of these
    expect 8s lease a b           # these nodes hold a lease; no-lease c d
    expect 8s tokens-on a b       # every token is held by one of these nodes
    expect 8s lease-side a b | c d  # one side holds leases, the other none
    expect 8s epoch >= 3          # or epoch = 3
    expect 8s qs-pings = 0        # pings the quorum server received so far (or >= N)
    expect 8s failed-nowhere      # no node holds a package failure (history or report)
    expect 8s reset a             # a's watchdog reset it (at least once) so far
    expect 8s refused-orders <= 40  # package orders refused so far, all nodes together
    expect 9s no-old-lease a since 6s   # a claimed no lease in an epoch older than
                                        # the newest decided at 6s, after 6s
    heal 10s                      # end every fault; then all nodes must gather

Every run also checks the invariants of tests.sim.checker throughout.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cluster.core.effects import HaltCluster, RunCluster, RunNode
from cluster.core.messages import QUORUM_SERVER
from cluster.core.timing import MS, SECOND, Timing
from tests.sim.faults import (
    Action,
    Boot,
    Crash,
    CrashDaemon,
    Cut,
    DiskStall,
    DropKinds,
    Expect,
    FailPackages,
    Freeze,
    HealNetwork,
    KeepQs,
    Leave,
    LoseQs,
    Lossy,
    Operate,
    Partition,
    Pause,
    Plan,
    Reconfigure,
    Restart,
    Resume,
    Thaw,
    liveness_bound,
)
from tests.sim.world import SimConfig, World

SCENARIOS = Path(__file__).parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and line."""


@dataclass
class Scenario:
    name: str
    path: Path
    plan: Plan
    seed: int


def duration(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", text)
    if not m:
        raise ValueError(f"bad duration {text!r} (use 250ms or 1.5s)")
    unit = MS if m.group(2) == "ms" else SECOND
    return round(float(m.group(1)) * unit)


def _groups(words: list[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for w in words:
        if w == "|":
            groups.append([])
        else:
            groups[-1].append(QUORUM_SERVER if w == "qs" else w)
    return groups


def _action(words: list[str]) -> Action:
    verb, args = words[0], words[1:]
    qs = [QUORUM_SERVER if a == "qs" else a for a in args]
    simple: dict[str, Callable[[str], Action]] = {
        "crash": Crash,
        "restart": Restart,
        "pause": Pause,
        "resume": Resume,
        "halt-node": Leave,
        "run-node": lambda n: Operate(n, RunNode()),
        "halt-cluster": lambda n: Operate(n, HaltCluster()),
    }
    if verb in simple and len(qs) == 1:
        return simple[verb](qs[0])
    if verb in ("keep", "lose", "rollback") and qs == [QUORUM_SERVER]:
        return KeepQs() if verb == "keep" else LoseQs(rollback=verb == "rollback")
    if verb in ("add-package", "remove-package", "reorder-package") and len(args) == 1:
        return Reconfigure(verb.removesuffix("-package"), args[0])
    if verb == "fail-packages" and len(args) == 1:
        return FailPackages(args[0])
    if verb == "crash-daemon" and len(args) == 1:
        return CrashDaemon(args[0])
    if verb in ("freeze", "thaw") and len(args) == 1:
        return Freeze(args[0]) if verb == "freeze" else Thaw(args[0])
    if verb == "stall" and len(args) == 2:
        return DiskStall(args[0], duration(args[1]))
    if verb == "partition":
        return Partition(tuple(frozenset(g) for g in _groups(args)))
    if verb == "cut" and len(args) == 3 and args[1] in ("->", "-"):
        return Cut(args[0], args[2], both=args[1] == "-")
    if verb == "drop" and args:
        return DropKinds(frozenset(args))
    if verb == "heal" and not args:
        return HealNetwork()
    if verb == "lossy" and len(args) == 1:
        return Lossy(float(args[0]))
    if verb == "run-cluster" and args:
        return Operate(args[0], RunCluster(tuple(sorted(args[1:]))))
    raise ValueError(f"unknown action {' '.join(words)!r}")


def _holds(world: World, name: str) -> bool:
    host = world.hosts[name]
    node = host.node
    return node is not None and not host.paused and node.holds_lease(host.local_now())


def _expectation(words: list[str]) -> Expect:
    kind, args = words[0], words[1:]
    text = " ".join(words)
    if kind == "members":
        options = [tuple(sorted(g)) for g in _groups(args)]

        def members(world: World) -> str | None:
            m = world.decided()
            got = m.members if m else ()
            return None if got in options else f"newest decided is {m}"

        return Expect(text, members)
    if kind in ("lease", "no-lease"):
        want = kind == "lease"

        def lease(world: World) -> str | None:
            wrong = []
            for name in args:
                if _holds(world, name) != want:
                    wrong.append(name)
            return f"{','.join(wrong)} {'lack' if want else 'hold'} a lease" if wrong else None

        return Expect(text, lease)
    if kind == "tokens-on":

        def tokens(world: World) -> str | None:
            prefs = world.hosts[world.cfg.nodes[0]].agent.prefs
            where = {t: world.checker.holder(t, world.now) for t in prefs}
            # With no nodes named: no token may be held at all.
            bad = {t: h for t, h in where.items() if (h not in args if args else h is not None)}
            return f"tokens held elsewhere: {bad}" if bad else None

        return Expect(text, tokens)
    if kind == "lease-side":
        sides = _groups(args)

        def lease_side(world: World) -> str | None:
            held = [
                [world.hosts[n].node is not None and _holds(world, n) for n in side]
                for side in sides
            ]
            whole = [all(h) for h in held]
            none = [not any(h) for h in held]
            if whole.count(True) == 1 and all(w or z for w, z in zip(whole, none, strict=True)):
                return None
            return f"leases by side: {held}"

        return Expect(text, lease_side)
    if kind == "qs-pings" and len(args) == 2 and args[0] in (">=", "="):

        def qs_pings(world: World) -> str | None:
            got, want = world.qs_pings, int(args[1])
            ok = got >= want if args[0] == ">=" else got == want
            return None if ok else f"the quorum server received {got} pings"

        return Expect(text, qs_pings)
    if kind == "epoch" and len(args) == 2 and args[0] in (">=", "="):

        def epoch(world: World) -> str | None:
            m = world.decided()
            got = m.epoch if m else 0
            ok = got >= int(args[1]) if args[0] == ">=" else got == int(args[1])
            return None if ok else f"epoch is {got}"

        return Expect(text, epoch)
    if kind == "reset" and args:

        def reset(world: World) -> str | None:
            never = [n for n in args if not world.hosts[n].resets]
            return f"never reset by its watchdog: {' '.join(never)}" if never else None

        return Expect(text, reset)
    if kind == "failed-nowhere" and not args:

        def failed_nowhere(world: World) -> str | None:
            bad = {}
            for name, host in sorted(world.hosts.items()):
                history = {f.package: f.failed for f in host.agent.flags.packages if f.failed}
                if history or host.agent.failed:
                    bad[name] = (history, sorted(host.agent.failed))
            return f"failures recorded: {bad}" if bad else None

        return Expect(text, failed_nowhere)
    if kind == "refused-orders" and len(args) == 2 and args[0] == "<=":

        def refused(world: World) -> str | None:
            ok = world.refused_orders <= int(args[1])
            return None if ok else f"{world.refused_orders} orders were refused"

        return Expect(text, refused)
    if kind == "no-old-lease" and len(args) == 3 and args[1] == "since":
        name, since = args[0], duration(args[2])

        def old_lease(world: World) -> str | None:
            newest = max((e for e, t in world.checker.decided_at.items() if t <= since), default=0)
            bad = [
                (t, e)
                for t, host, e in world.lease_log
                if host == name and t > since and e < newest
            ]
            return f"{name} claimed leases in old epochs: {bad[:3]}" if bad else None

        return Expect(text, old_lease)
    raise ValueError(f"unknown expectation {text!r}")


def parse(path: Path) -> Scenario:
    settings: dict[str, str] = {}
    actions: list[tuple[int, Action]] = []
    heal_at: int | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = line.split()
            if words[0] in ("at", "expect") and len(words) >= 3:
                t = duration(words[1])
                if words[0] == "at":
                    actions.append((t, _action(words[2:])))
                else:
                    actions.append((t, _expectation(words[2:])))
            elif words[0] == "heal" and len(words) == 2:
                heal_at = duration(words[1])
            elif ":" in words[0]:
                key, _, rest = line.partition(":")
                settings[key.strip()] = rest.strip()
            else:
                raise ValueError(f"cannot read {line!r}")
        except ValueError as exc:
            raise ScenarioError(f"{path}:{number}: {exc}") from exc
    return _build(path, settings, actions, heal_at)


def _build(
    path: Path,
    settings: dict[str, str],
    actions: list[tuple[int, Action]],
    heal_at: int | None,
) -> Scenario:
    nodes = tuple(sorted(settings.get("nodes", "").split()))
    if not nodes:
        raise ScenarioError(f"{path}: no nodes")
    mt = duration(settings.get("member-timeout", "1s"))
    overrides = {
        key.replace("-", "_"): duration(settings[key])
        for key in ("heartbeat", "proposal-step", "round-timeout")
        if key in settings
    }
    if "stop-margin" in settings:
        overrides["stop_margin"] = duration(settings["stop-margin"])
    timing = Timing.for_member_timeout(mt, **overrides)
    cfg = SimConfig(
        nodes,
        settings.get("quorum-server", "no") == "yes",
        timing,
        tokens=int(settings.get("tokens", "2")),
    )
    cfg.watchdog = settings.get("watchdog", "no") == "yes"
    cfg.stop_factor = float(settings.get("stop-factor", "0.5"))
    cfg.adopt_orphans = settings.get("adopt-orphans", "yes") == "yes"
    cfg.address_probe = settings.get("address-probe", "no") == "yes"
    cfg.guardless = frozenset(settings.get("guardless", "").split())
    cfg.legacy = frozenset(settings.get("legacy", "").split())
    if "unclean-halts" in settings:
        hosts, _, held = settings["unclean-halts"].rpartition(" ")
        cfg.unclean_hosts = frozenset(hosts.split())
        cfg.unclean_for = duration(held)
    if "start-time" in settings:
        cfg.start_time = (MS, duration(settings["start-time"]))
    if "clock-drift" in settings:
        cfg.clock_ppm = int(settings["clock-drift"].removesuffix("ppm"))
    spread = duration(settings.get("boot-spread", "1ms"))
    form = settings.get("form", "auto").split()
    boots: list[tuple[int, Action]] = [(i * spread, Boot(n)) for i, n in enumerate(nodes)]
    if form[0] == "cmruncl":
        cfg.auto_start = False
        boots.append((300 * MS, Operate(form[1], RunCluster(tuple(sorted(form[2:]))))))
    last = max((t for t, _ in actions), default=0)
    heal = heal_at if heal_at is not None else last + 1
    ending: list[tuple[int, Action]] = [(heal, HealNetwork())]
    ending += [(heal, Thaw(n)) for n in nodes]
    ending += [(heal, Restart(n)) for n in nodes] + [(heal, Resume(n)) for n in nodes]
    if cfg.quorum_server:
        ending.append((heal, Restart(QUORUM_SERVER)))
    everything = sorted(boots + actions + ending, key=lambda a: a[0])
    plan = Plan(cfg, everything, heal, frozenset(nodes), liveness_bound(timing), path.stem)
    name = settings.get("name", path.stem)
    return Scenario(name, path, plan, int(settings.get("seed", "1")))


def all_scenarios() -> list[Path]:
    return sorted(SCENARIOS.glob("*.scn"))
