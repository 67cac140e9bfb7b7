"""The coordinator's preview (cluster/daemon/preview.py): what-if snapshots built from
cmeval's fields and a candidate configuration, refused names, and the words printed."""

import json
from dataclasses import replace

import pytest

from cluster.core.policy_model import Instance, PackageSpec, PackageState, Snapshot
from cluster.daemon.layout import layout_of
from cluster.daemon.preview import evaluate_snapshot, preview
from cluster.errors import CmError
from cluster.pb.v1 import package_pb2
from tests.unit.config.helpers import THREE_NODES, config

PACKAGE = """
PACKAGE_NAME web
NODE_NAME a
NODE_NAME b
NODE_NAME c
MONITORED_SUBNET 198.18.1.0
"""


def live() -> Snapshot:
    return Snapshot(
        epoch=7,
        members=("a", "b", "c"),
        coordinator="a",
        nodes=("a", "b", "c"),
        packages=(PackageSpec("web", ("a", "b", "c")),),
        states=(PackageState("web", (Instance("a"),)),),
    )


def test_a_node_failing_and_a_subnet_down_are_predicted() -> None:
    cfg = config(THREE_NODES, PACKAGE)
    failing = evaluate_snapshot(live(), package_pb2.EvaluateRequest(fail_nodes=["a"]), cfg)
    lines, refused = preview(live(), failing, "cmeval: node a failing", as_json=False)
    assert not refused and "    1. start web on b: b is the first usable node" in "\n".join(lines)
    assert "    web: a -> b" in lines
    down = package_pb2.EvaluateRequest(down_subnets=["198.18.1.0/24@b", "198.18.1.0@a"])
    subnet = evaluate_snapshot(live(), down, cfg)
    (document,), _ = preview(live(), subnet, "cmeval", as_json=True)
    assert json.loads(document)["placement"] == {"web": ["c"]}


def test_a_candidate_configuration_without_a_member_is_predicted_not_raised() -> None:
    """The member the new cluster file leaves out (here the coordinator) is as if gone."""
    two = "\n".join(THREE_NODES.splitlines()[:12]) + "\nQS_HOST qs\n"  # nodes a and b
    candidate = config(two, PACKAGE.replace("NODE_NAME c\n", ""))
    layout = layout_of(candidate, 0)
    snap = live()
    snap_c = replace(snap, coordinator="c", halting=frozenset({"c"}))
    changed = evaluate_snapshot(snap_c, package_pb2.EvaluateRequest(), candidate, layout)
    assert changed.members == ("a", "b") and changed.coordinator in ("a", "b")
    lines, refused = preview(snap_c, changed, "cmeval", as_json=False)
    assert not refused and "  No package would start, halt or move." in lines


def test_unknown_nodes_are_refused_by_name() -> None:
    cfg = config(THREE_NODES, PACKAGE)
    with pytest.raises(CmError, match="--fail-node z: not a node of the cluster"):
        evaluate_snapshot(live(), package_pb2.EvaluateRequest(fail_nodes=["z"]), cfg)
    with pytest.raises(CmError, match="z is not a node"):
        evaluate_snapshot(live(), package_pb2.EvaluateRequest(halt_nodes=["z"]), cfg)
