"""Preview (-t) and cmeval on real hosts with the built zipapp: the package of
tests/netns/pkgsite.py on three hosts. For each case of a table, the preview changes
nothing (configuration generation, package states and flags as before) and predicts
where the package ends up; the real command then puts it exactly there. Last, cmeval's
prediction for a node failure is the placement a real crash of that node produces."""

import json
import re
from pathlib import Path
from typing import Any

from tests.netns.cluster import LabCluster, wait_for
from tests.netns.pkgsite import PKG, package_site


def state(c: LabCluster, node: str) -> tuple[Any, ...]:
    """What a preview must not change: the generation, and every package's status,
    state, node, switching and failure flags."""
    generation = re.search(r"Configuration generation: (\d+)", c.cm_ok(node, "cmviewconf"))
    packages = c.view(node)["packages"]
    return (
        generation.group(1) if generation else "",
        [
            (
                p["name"],
                p["status"],
                p["state"],
                p["node"],
                p["auto_run"],
                p["maintenance"],
                [(n["name"], n["switching_enabled"], n["failed_here"]) for n in p["nodes"]],
            )
            for p in packages
        ],
    )


def predicted(c: LabCluster, node: str, *command: str) -> dict[str, Any]:
    result = c.cm(node, *command)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, (command, result.stdout, result.stderr)
    document: dict[str, Any] = json.loads(lines[0])
    document["exit"] = result.returncode
    return document


def where(c: LabCluster, observer: str) -> list[str]:
    seen = c.package(observer, PKG)
    return [seen["node"]] if seen.get("status") == "up" and seen.get("node") else []


CASES = [
    # (preview on, preview command, real command, where the package should end)
    (("cmhaltpkg", "-t", "-f", "json", PKG), ("cmhaltpkg", PKG), []),
    (("cmrunpkg", "-t", "-f", "json", "-n", "n2", PKG), ("cmrunpkg", "-n", "n2", PKG), ["n2"]),
    (("cmmodpkg", "-t", "-f", "json", "-e", PKG), ("cmmodpkg", "-e", PKG), ["n2"]),
    (
        ("cmhaltnode", "-t", "--format", "json", "n2"),
        ("cmhaltnode", "-f", "n2"),
        ["n1"],
    ),
    (("cmrunnode", "-t", "--format", "json", "n2"), ("cmrunnode", "n2"), ["n1"]),
]


def test_previews_change_nothing_and_predict_what_the_command_does(tmp_path: Path) -> None:
    with package_site(tmp_path) as site:
        c = site.c
        for command, real, expected in CASES:
            before = state(c, "n3")
            document = predicted(c, "n3", *command)
            assert document["exit"] == 0, document
            assert state(c, "n3") == before, f"{command} changed something"
            predicted_nodes = document["placement"][PKG]
            assert predicted_nodes == expected, (command, document)
            c.cm_ok("n3", *real)

            def settled(nodes: list[str] = expected) -> bool:
                return where(c, "n3") == nodes and c.package("n3", PKG)["state"] in (
                    "running",
                    "halted",
                )

            wait_for(settled, 30, f"{' '.join(real)} placing {PKG} on {expected}")
            if command[0] == "cmhaltnode":
                wait_for(lambda: "n2" not in c.running_members("n3"), 20, "n2 halted")

        # A refusal is predicted too, with the reason, and changes nothing.
        before = state(c, "n3")
        refused = c.cm("n3", "cmrunpkg", "-t", "-n", "n1", PKG)
        assert refused.returncode == 1 and "already running on n1" in refused.stderr, refused
        assert "Preview of cmrunpkg pkg1" in refused.stdout
        assert state(c, "n3") == before

        # cmeval: n1 fails. The prediction, then the real crash.
        document = predicted(c, "n2", "cmeval", "-f", "json", "--fail-node", "n1")
        assert document["placement"][PKG] == ["n2"], document
        assert document["changes"][PKG] == {"before": ["n1"], "after": ["n2"]}, document
        text = c.cm_ok("n2", "cmeval", "--fail-node", "n1")
        assert "start pkg1 on n2" in text and "pkg1: n1 -> n2" in text, text
        again = predicted(c, "n2", "cmeval", "-f", "json", "--fail-node", "n1")
        assert again == document  # same cluster, same prediction
        c.crash("n1")
        c.wait_package(PKG, on="n2", observer="n3", timeout=20)
        assert where(c, "n3") == document["placement"][PKG]
