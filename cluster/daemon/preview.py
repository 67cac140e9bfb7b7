"""Preview (-t on cmrunpkg, cmhaltpkg, cmmodpkg) and cmeval on the coordinator: the
live snapshot with the change made to it, the prediction of `core/predict.py`, and the
words (or one JSON document) the command prints. Nothing here changes anything."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from cluster.config.check import check_config
from cluster.config.model import Config
from cluster.config.source import cluster_from_pb, package_from_pb
from cluster.core.policy_model import HaltRequest, RunRequest, Snapshot
from cluster.core.predict import (
    Prediction,
    fail_nodes,
    fail_packages,
    predict,
    with_packages,
    with_requests,
)
from cluster.core.session_model import Layout
from cluster.daemon.layout import layout_of
from cluster.errors import CmError
from cluster.pb.v1 import config_pb2, package_pb2

COMMANDS = {"run": "cmrunpkg", "halt": "cmhaltpkg", "modify": "cmmodpkg"}


def request_snapshot(snap: Snapshot, request: package_pb2.PackageCommandRequest) -> Snapshot:
    """The snapshot as it would be with this run, halt or switching change asked."""
    which = request.WhichOneof("command")
    if which == "run":
        run = request.run
        modules = tuple(run.modules)
        return with_requests(snap, (RunRequest(run.package_name, run.node_name or None, modules),))
    if which == "halt":
        halt = request.halt
        wanted = HaltRequest(halt.package_name, halt.node_name or None, tuple(halt.modules))
        return with_requests(snap, (wanted,))
    if which == "modify":
        return _modified(snap, request.modify)
    raise CmError(f"nothing to preview in a {which} command")


def _modified(snap: Snapshot, modify: package_pb2.ModifyPackageRequest) -> Snapshot:
    if modify.maintenance != modify.MAINTENANCE_UNCHANGED:
        raise CmError("cmmodpkg -m cannot be previewed (as in Serviceguard)")
    name = modify.package_name
    if name not in {s.name for s in snap.states}:
        raise CmError(f"package {name} is not configured")
    state = snap.state(name)
    nodes = frozenset(modify.node_names)
    if modify.enable and not nodes:
        state = replace(state, auto_run=True, failed_nodes=frozenset())
    elif modify.enable:
        state = replace(
            state,
            disabled_nodes=state.disabled_nodes - nodes,
            failed_nodes=state.failed_nodes - nodes,
        )
    elif not nodes:
        state = replace(state, auto_run=False)
    else:
        state = replace(state, disabled_nodes=state.disabled_nodes | nodes)
    states = tuple(state if s.name == name else s for s in snap.states)
    return replace(snap, states=states, requests=())


def evaluate_snapshot(
    snap: Snapshot,
    evaluate: package_pb2.EvaluateRequest,
    config: Config,
    layout: Layout | None = None,
) -> Snapshot:
    """cmeval's what-if: a new configuration's packages (`config` a candidate, checked,
    and `layout` its placement view), then the subnets down (a package monitoring one
    fails where it is down), then the failed nodes."""
    if layout is not None:
        dropped = frozenset(snap.members) - set(layout.nodes)
        if dropped:  # a member the new file leaves out: as if it failed, then left
            snap = fail_nodes(snap, dropped)
        snap = replace(snap, nodes=layout.nodes, released=snap.released & set(layout.nodes))
        snap = with_packages(snap, layout.packages, dict(layout.auto_run))
    known = set(config.cluster.node_names)
    for node in evaluate.fail_nodes:
        if node not in known:
            raise CmError(f"--fail-node {node}: not a node of the cluster")
    failures: dict[str, frozenset[str]] = {}
    for text in evaluate.down_subnets:
        subnet, _, node = text.partition("@")
        if node and node not in known:
            raise CmError(f"--subnet-down {text}: {node} is not a node of the cluster")
        where = frozenset({node}) if node else frozenset(known)
        watching = [
            p.name
            for p in config.packages
            if any(s.split("/")[0] == subnet.split("/")[0] for s in p.monitored_subnets)
        ]
        for name in watching:
            failures[name] = failures.get(name, frozenset()) | where
    if failures:
        snap = fail_packages(snap, failures)
    if evaluate.fail_nodes:
        snap = fail_nodes(snap, frozenset(evaluate.fail_nodes))
    for node in [*evaluate.halt_nodes, *evaluate.join_nodes]:
        if node not in known:
            raise CmError(f"{node} is not a node of the cluster")
    halting = frozenset(evaluate.halt_nodes) & set(snap.members)
    if evaluate.halt_cluster:
        halting = frozenset(snap.members)
    joining = frozenset(evaluate.join_nodes) - set(snap.members)
    if halting:
        snap = replace(snap, halting=snap.halting | halting)
    if joining:
        snap = replace(
            snap,
            members=tuple(sorted({*snap.members, *joining})),
            released=snap.released - joining,
            coordinator=snap.coordinator or min(joining),
        )
    return snap


def render(before: Snapshot, prediction: Prediction, title: str, as_json: bool) -> list[str]:
    """What the command prints: the answers, every action in order with its reason,
    the packages that end elsewhere, and what is left waiting."""
    changes = prediction.moved(before)
    if as_json:
        document = {
            "what": title,
            "epoch": before.epoch,
            "answers": [
                {"request": a.request.describe(), "outcome": str(a.outcome), "reason": a.reason}
                for a in prediction.answers
            ],
            "steps": [
                {
                    "round": s.round,
                    "action": str(s.kind),
                    "package": s.package,
                    "node": s.node,
                    "reason": s.reason,
                }
                for s in prediction.steps
            ],
            "placement": {k: list(v) for k, v in sorted(prediction.placement.items())},
            "changes": {
                k: {"before": list(b), "after": list(a)} for k, (b, a) in sorted(changes.items())
            },
            "waits": dict(sorted(prediction.waits.items())),
            "settled": prediction.settled,
        }
        return [json.dumps(document, sort_keys=True)]
    lines = [f"Preview of {title} (epoch {before.epoch}; nothing is changed):"]
    lines += [f"  {a.request.describe()}: {a.outcome}: {a.reason}" for a in prediction.answers]
    if prediction.steps:
        lines.append("  Actions, in order:")
        lines += [
            f"    {i}. {s.kind} {s.package} on {s.node}: {s.reason}"
            for i, s in enumerate(prediction.steps, 1)
        ]
    else:
        lines.append("  No package would start, halt or move.")
    if changes:
        lines.append("  Packages that would change:")
        lines += [
            f"    {name}: {', '.join(b) or 'down'} -> {', '.join(a) or 'down'}"
            for name, (b, a) in sorted(changes.items())
        ]
    if prediction.waits:
        lines.append("  Packages left waiting:")
        lines += [f"    {name}: {why}" for name, why in sorted(prediction.waits.items())]
    if not prediction.settled:
        lines.append("  (the prediction did not settle: report this as a bug)")
    return lines


def refused(prediction: Prediction) -> str:
    """Why the previewed command would be refused ("" when it would be accepted)."""
    return next((a.reason for a in prediction.answers if a.outcome == "refused"), "")


def preview(
    before: Snapshot, changed: Snapshot, title: str, as_json: bool
) -> tuple[list[str], str]:
    """The lines to print, and why the command would be refused ("" if not)."""
    prediction = predict(changed)
    return render(before, prediction, title, as_json), refused(prediction)


async def preview_command(
    snap: Snapshot | None, config: Config | None, request: package_pb2.PackageCommandRequest
) -> tuple[list[str], str]:
    """-t or cmeval on the coordinator: the lines to print, and why the previewed
    command would be refused ("" if it would not)."""
    if snap is None or config is None:
        raise CmError("no configuration is applied: nothing to predict")
    which = request.WhichOneof("command")
    if which == "evaluate":
        evaluate = request.evaluate
        candidate, layout = config, None
        if evaluate.config.HasField("cluster") or evaluate.config.packages:
            candidate = await asyncio.to_thread(_candidate, evaluate.config, config)
            layout = layout_of(candidate, 0)
        changed = evaluate_snapshot(snap, evaluate, candidate, layout)
        title, as_json = _evaluation(evaluate), evaluate.format == package_pb2.PREVIEW_JSON
    else:
        inner = getattr(request, which or "run")
        changed = request_snapshot(snap, request)
        title = f"{COMMANDS.get(which or '', which)} {inner.package_name}"
        as_json = inner.preview == package_pb2.PREVIEW_JSON
    lines, why = preview(snap, changed, title, as_json)
    return lines, f"{title} would be refused: {why}" if why else ""


def previewed(request: package_pb2.PackageCommandRequest) -> bool:
    """-t: a run, halt or switching change to predict, not to do."""
    which = request.WhichOneof("command")
    inner = getattr(request, which) if which in ("run", "halt", "modify") else None
    return inner is not None and inner.preview != package_pb2.PREVIEW_NONE


def _candidate(sources: config_pb2.CheckConfigRequest, applied: Config) -> Config:
    """cmeval -C/-P: the configuration these files would make, checked as cmcheckconf
    checks it before asking the nodes (ConfigError naming file and line otherwise)."""
    cluster = cluster_from_pb(sources.cluster) if sources.HasField("cluster") else None
    packages = [package_from_pb(p) for p in sources.packages]
    return check_config(cluster, packages, None, applied).raise_if_errors()


def _evaluation(evaluate: package_pb2.EvaluateRequest) -> str:
    parts = [f"node {n} failing" for n in evaluate.fail_nodes]
    parts += [f"node {n} halting" for n in evaluate.halt_nodes]
    parts += ["the cluster halting"] if evaluate.halt_cluster else []
    parts += [f"node {n} joining" for n in evaluate.join_nodes]
    parts += [f"subnet {s} down" for s in evaluate.down_subnets]
    if evaluate.config.HasField("cluster") or evaluate.config.packages:
        files = [evaluate.config.cluster.path] if evaluate.config.HasField("cluster") else []
        files += [p.path for p in evaluate.config.packages]
        parts.append(f"applying {', '.join(files)}")
    return "cmeval: " + ("; ".join(parts) or "the cluster as it is")
