"""What would happen: the placement engine run on a snapshot, its decisions carried out
on paper, until nothing is left to do (`predict`). Preview (`-t` on the commands) and
`cmeval` ("what if a node fails, a subnet fails, this configuration is applied") are
this function on the live snapshot with the change made to it (`fail_nodes`,
`with_requests`, `with_packages`...): same snapshot, same prediction.

Every start succeeds and every halt is clean on paper; a package that waits for
something outside the snapshot (a non-member's takeover not allowed yet) waits in the
prediction too, and says so.
"""

from dataclasses import dataclass, field, replace

from cluster.core.policy import decide
from cluster.core.policy_model import (
    Action,
    ActionKind,
    Answer,
    Instance,
    InstanceState,
    Outcome,
    PackageSpec,
    PackageState,
    Request,
    Snapshot,
)

MAX_ROUNDS = 64  # far beyond any dependency chain of 300 packages' decisions in practice


@dataclass(frozen=True)
class Step:
    """One action of the prediction, in the order the coordinator would send it."""

    round: int
    kind: ActionKind
    package: str
    node: str
    reason: str


@dataclass(frozen=True)
class Prediction:
    steps: tuple[Step, ...]
    answers: tuple[Answer, ...]  # the operator's requests, as the engine would answer
    placement: dict[str, tuple[str, ...]] = field(default_factory=dict)  # where, after
    waits: dict[str, str] = field(default_factory=dict)  # what is left waiting, and why
    settled: bool = True  # False: still acting after MAX_ROUNDS (a bug: say so)

    def moved(self, before: Snapshot) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Packages whose nodes change: name -> (before, after)."""
        out = {}
        for state in before.states:
            was = tuple(sorted(i.node for i in state.instances if i.node in before.members))
            now = self.placement.get(state.name, ())
            if was != now:
                out[state.name] = (was, now)
        return out


def predict(snap: Snapshot) -> Prediction:
    steps: list[Step] = []
    answers: list[Answer] = []
    current = _in_flight_done(snap)
    settled = False
    waits: dict[str, str] = {}
    for number in range(1, MAX_ROUNDS + 1):
        decision = decide(current)
        answers += [a for a in decision.answers if a.outcome is not Outcome.WAITING]
        waits = {w.package: w.reason for w in decision.waits}
        steps += [Step(number, a.kind, a.package, a.node, a.reason) for a in decision.actions]
        pending = tuple(a.request for a in decision.answers if a.outcome is Outcome.WAITING)
        if not decision.actions and not pending:
            settled = True
            break
        current = _carried_out(current, decision.actions, decision.auto_run_off, pending)
        if not decision.actions:  # requests waiting on nothing that will change
            answers += [a for a in decision.answers if a.outcome is Outcome.WAITING]
            settled = True
            break
    placement = {
        s.name: tuple(
            sorted(
                i.node
                for i in s.instances
                if i.node in current.members and i.state is InstanceState.RUNNING
            )
        )
        for s in current.states
    }
    return Prediction(tuple(steps), tuple(answers), placement, waits, settled)


def _in_flight_done(snap: Snapshot) -> Snapshot:
    """Starts and halts under way complete (on paper, as every action succeeds)."""
    states = tuple(
        replace(
            s,
            instances=tuple(
                Instance(i.node, InstanceState.RUNNING) if i.state is InstanceState.STARTING else i
                for i in s.instances
                if i.state is not InstanceState.HALTING
            ),
        )
        for s in snap.states
    )
    return replace(snap, states=states)


def _carried_out(
    snap: Snapshot,
    actions: tuple[Action, ...],
    auto_run_off: tuple[str, ...],
    pending: tuple[Request, ...],
) -> Snapshot:
    """The snapshot once every action succeeded: starts run, halts are gone (a halt of
    some modules only leaves the package running)."""
    held = {s.name: {i.node: i.state for i in s.instances} for s in snap.states}
    for action in actions:
        if action.kind is ActionKind.START:
            held[action.package][action.node] = InstanceState.RUNNING
        elif not action.modules:
            held[action.package].pop(action.node, None)
    states = tuple(
        replace(
            s,
            instances=tuple(Instance(n, st) for n, st in sorted(held[s.name].items())),
            auto_run=s.auto_run and s.name not in auto_run_off,
        )
        for s in snap.states
    )
    return replace(snap, states=states, requests=pending)


# -- what-ifs: the live snapshot with one change made ------------------------------------


def fail_nodes(snap: Snapshot, nodes: frozenset[str]) -> Snapshot:
    """Those nodes fail: out of the membership, their packages gone with them, and
    their takeover allowed (as it is a moment after the reformation)."""
    members = tuple(n for n in snap.members if n not in nodes)
    states = tuple(
        replace(s, instances=tuple(i for i in s.instances if i.node not in nodes))
        for s in snap.states
    )
    coordinator = snap.coordinator if snap.coordinator in members else min(members, default="")
    return replace(
        snap,
        members=members,
        coordinator=coordinator,
        states=states,
        released=snap.released | (nodes & set(snap.nodes)),
        halting=snap.halting - nodes,
        blocked={n: why for n, why in snap.blocked.items() if n not in nodes},
    )


def fail_packages(snap: Snapshot, failures: dict[str, frozenset[str]]) -> Snapshot:
    """Those packages fail on those nodes (a monitored subnet down there): halted where
    they run there, and never started there again (their failure history). A package in
    maintenance mode ignores the failure (it stays up, and is started only by hand)."""
    states = []
    for s in snap.states:
        gone = frozenset() if s.maintenance else failures.get(s.name, frozenset())
        states.append(
            replace(
                s,
                instances=tuple(i for i in s.instances if i.node not in gone),
                failed_nodes=s.failed_nodes | gone,
            )
            if gone
            else s
        )
    return replace(snap, states=tuple(states))


def with_requests(snap: Snapshot, requests: tuple[Request, ...]) -> Snapshot:
    return replace(snap, requests=requests)


def with_packages(
    snap: Snapshot, specs: tuple[PackageSpec, ...], auto_run: dict[str, bool]
) -> Snapshot:
    """A new configuration's packages (checked already: one still running is not
    removed): a new one starts as AUTO_RUN says, a changed one keeps its runtime flags."""
    old = {s.name: s for s in snap.states}
    states = tuple(
        old.get(p.name) or PackageState(name=p.name, auto_run=auto_run.get(p.name, True))
        for p in specs
    )
    return replace(snap, packages=specs, states=states, requests=())
