"""Placement scenarios as text: a cluster described line by line, then `decide` and the
expected decision on the `>` lines below it (Pacemaker's scheduler regression suite in
spirit: snapshot in, transition summary out).

    scenario  NAME                start a new scenario (fresh cluster)
    nodes     a b c               configured nodes
    members   a b                 a new decided membership (epoch + 1; coordinator a)
    released  c | -               non-members whose takeover is allowed (their packages
                                  are gone); `-` for none
    halting   a | -               members being halted by cmhaltnode
    package   NAME key=value...   nodes=a,b,c type=multi_node failover=min_package_node
                                  failback=automatic priority=10 auto_run=no
                                  needs=P1,P2@any_node,P3@different_node (UP)
                                  excludes=P4,P5@any_node (DOWN)
    PKG running|starting|halting|unclean|halted|failed on NODE
    cmmodpkg  -e|-d [-n NODE] PKG
    maintenance PKG NODE|-        maintenance mode on NODE (the session's checks done)
    cmrunpkg  [-n NODE] [-m MOD] PKG   a pending operator request (-m: modules, comma-
    cmhaltpkg [-n NODE] [-s] PKG       separated, as the command line computed them)
    decide                        run the engine; the `>` lines below are what it said
    send | done | apply           the coordinator sends the decision (starts and halts in
                                  flight) | everything in flight completes | both

Every decision is also checked against the engine's invariants. To accept new output,
run with POLICY_REWRITE=1 and review the diff of the scenario files.
"""

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from cluster.core.policy_model import (
    Condition,
    Decision,
    Dependency,
    FailbackPolicy,
    FailoverPolicy,
    InstanceState,
    Location,
    PackageSpec,
    PackageType,
)
from tests.unit.policy.invariants import check
from tests.unit.policy.world import World


@dataclass
class Scenario:
    name: str
    line: int
    commands: list[tuple[int, str]] = field(default_factory=list)
    expected: dict[int, list[str]] = field(default_factory=dict)  # decide line -> output


def parse(path: Path) -> list[Scenario]:
    scenarios: list[Scenario] = []
    last_decide = 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw.strip()
        if text.startswith(">"):
            assert scenarios and last_decide, f"{path}:{number}: output without decide"
            scenarios[-1].expected.setdefault(last_decide, []).append(text[1:].strip())
            continue
        if not text or text.startswith("#"):
            continue
        if text.startswith("scenario "):
            scenarios.append(Scenario(text.removeprefix("scenario ").strip(), number))
            last_decide = 0
            continue
        assert scenarios, f"{path}:{number}: command before the first scenario"
        scenarios[-1].commands.append((number, text))
        if text == "decide":
            last_decide = number
            scenarios[-1].expected.setdefault(number, [])
    return scenarios


def run(scenario: Scenario, path: Path) -> dict[int, list[str]]:
    """The engine's output for every `decide` of the scenario."""
    world = World()
    outputs: dict[int, list[str]] = {}
    for number, text in scenario.commands:
        try:
            result = _command(world, text)
        except (AssertionError, ValueError, KeyError) as error:
            raise AssertionError(f"{path}:{number}: {text}: {error!r}") from error
        if result is not None:
            outputs[number] = render(result)
    return outputs


def rewrite(path: Path) -> None:
    """Replace every `>` block with what the engine says now."""
    outputs: dict[int, list[str]] = {}
    for scenario in parse(path):
        outputs.update(run(scenario, path))
    lines: list[str] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        if raw.strip().startswith(">"):
            continue
        lines.append(raw)
        lines.extend(f"> {line}" for line in outputs.get(number, []))
    path.write_text("\n".join(lines) + "\n")


def render(decision: Decision) -> list[str]:
    lines = [f"{a.describe()}: {a.reason}" for a in decision.actions]
    lines += [f"answer {a.request.describe()}: {a.outcome}: {a.reason}" for a in decision.answers]
    lines += [f"auto_run off {name}" for name in decision.auto_run_off]
    lines += [f"wait {w.package}: {w.reason}" for w in decision.waits]
    lines.append(f"summary: {decision.summary}")
    return lines


def _command(world: World, text: str) -> Decision | None:
    words = shlex.split(text)
    verb, args = words[0], words[1:]
    if verb == "nodes":
        world.nodes = tuple(args)
    elif verb == "members":
        world.set_members(args)
    elif verb == "released":
        world.release(set() if args == ["-"] else set(args))
    elif verb == "halting":
        world.halting = set() if args == ["-"] else set(args)
    elif verb == "package":
        _package(world, args)
    elif verb in ("cmrunpkg", "cmhaltpkg", "cmmodpkg"):
        _operator(world, verb, args)
    elif verb == "maintenance":
        name, node = args
        if node == "-":
            world.maintenance.pop(name, None)
        else:
            world.maintenance[name] = node
    elif verb == "decide":
        snapshot = world.snapshot()
        decision = world.decide()
        check(snapshot, decision)
        return decision
    elif verb in ("send", "apply"):
        world.send()
        if verb == "apply":
            world.done()
    elif verb == "done":
        world.done()
    elif len(args) == 3 and args[1] == "on":
        _instance(world, verb, args)
    else:
        raise ValueError(f"unknown command {text!r}")
    return None


_STATES = ("running", "starting", "halting", "unclean", "halted", "failed")


def _instance(world: World, name: str, args: list[str]) -> None:
    state, on, node = args
    assert on == "on" and state in _STATES, f"expected PKG {'|'.join(_STATES)} on NODE"
    held = world.instances[name]
    if state in ("halted", "failed"):
        held.pop(node, None)
        if state == "failed":
            world.failed[name].add(node)
    else:
        held[node] = InstanceState(state)


def _package(world: World, args: list[str]) -> None:
    name, options = args[0], dict(a.split("=", 1) for a in args[1:])
    deps: list[Dependency] = []
    for key, condition in (("needs", Condition.UP), ("excludes", Condition.DOWN)):
        for item in filter(None, options.pop(key, "").split(",")):
            target, _, location = item.partition("@")
            deps.append(Dependency(target, condition, Location(location or "same_node")))
    priority = options.pop("priority", None)
    spec = PackageSpec(
        name=name,
        nodes=tuple(options.pop("nodes").split(",")),
        type=PackageType(options.pop("type", "failover")),
        failover_policy=FailoverPolicy(options.pop("failover", "configured_node")),
        failback_policy=FailbackPolicy(options.pop("failback", "manual")),
        priority=int(priority) if priority else None,
        dependencies=tuple(deps),
    )
    auto_run = options.pop("auto_run", "yes") == "yes"
    assert not options, f"unknown package options {sorted(options)}"
    world.add(spec, auto_run)


def _operator(world: World, verb: str, args: list[str]) -> None:
    flags = [a for a in args if a in ("-e", "-d")]
    node = args[args.index("-n") + 1] if "-n" in args else None
    name = args[-1]
    if verb == "cmmodpkg":
        assert len(flags) == 1, "cmmodpkg needs -e or -d"
        world.cmmodpkg(flags[0] == "-e", name, node)
    else:
        modules: tuple[str, ...] = ()
        if "-m" in args:
            modules = tuple(args[args.index("-m") + 1].split(","))
        if "-s" in args:
            modules = ("sg/service",)
        world.request("run" if verb == "cmrunpkg" else "halt", name, node, modules)
