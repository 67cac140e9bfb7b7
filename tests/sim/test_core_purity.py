"""cluster/core performs no IO and draws no global randomness: grep-level proof."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "cluster" / "core"
FORBIDDEN = {
    "asyncio",
    "grpc",
    "socket",
    "time",
    "subprocess",
    "threading",
    "select",
    "os",
    "io",
    "pathlib",
    "logging",
    "datetime",
    "multiprocessing",
    "signal",
}


def test_core_imports_nothing_that_does_io() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 5
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & FORBIDDEN, f"{path.name}:{node.lineno} imports {roots & FORBIDDEN}"


def test_core_uses_only_a_passed_in_random() -> None:
    """`random` may appear only as `from random import Random` (a type to be passed in);
    the module-level functions share one hidden global generator."""
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert "random" not in {a.name for a in node.names}, f"{path.name}: import random"
            if isinstance(node, ast.ImportFrom) and node.module == "random":
                names = {a.name for a in node.names}
                assert names <= {"Random"}, f"{path.name}:{node.lineno} imports {names}"


def test_core_imports_only_core() -> None:
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("cluster")
            ):
                assert node.module.startswith("cluster.core"), f"{path.name} imports {node.module}"
