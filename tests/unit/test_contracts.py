"""Rules of the code base that a reviewer should not have to check by eye."""

import ast
import filecmp
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE_FORBIDDEN = {"asyncio", "grpc", "socket", "time", "subprocess", "threading", "select"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file may import: `import a.b`, `from a import b` (a and a.b, as
    b may be a module), relative imports by their names alone."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module if node.level == 0 else ""
            if base:
                names.add(base)
            names.update(f"{base}.{a.name}" if base else a.name for a in node.names)
    return names


def test_imported_modules_sees_every_form(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import grpc.aio\nfrom cluster.pb.v1 import services_pb2_grpc\n"
        "from . import node_pb2_grpc\n"
    )
    found = imported_modules(source)
    assert {"grpc.aio", "cluster.pb.v1.services_pb2_grpc", "node_pb2_grpc"} <= found


def python_files(*parts: str) -> list[Path]:
    return sorted((REPO.joinpath(*parts)).rglob("*.py"))


def test_core_is_sans_io() -> None:
    for path in python_files("cluster", "core"):
        roots = {name.split(".")[0] for name in imported_modules(path)}
        assert not roots & CORE_FORBIDDEN, f"{path} imports {roots & CORE_FORBIDDEN}"


def test_only_transport_imports_grpc() -> None:
    allowed = (REPO / "cluster" / "transport", REPO / "cluster" / "pb")
    for path in python_files("cluster") + python_files("tools"):
        if path.is_relative_to(allowed[0]) or path.is_relative_to(allowed[1]):
            continue
        roots = {name.split(".")[0] for name in imported_modules(path)}
        assert "grpc" not in roots, f"{path} imports grpc"
        pb_grpc = {n for n in imported_modules(path) if n.endswith("_pb2_grpc")}
        assert not pb_grpc, f"{path} imports {pb_grpc}"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    """The committed cluster/pb/v1 is exactly what `make proto` produces."""
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(REPO / "packaging" / "protoc.sh"), str(bin_dir), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = tmp_path / "cluster" / "pb" / "v1"
    committed = REPO / "cluster" / "pb" / "v1"
    generated = sorted(p.name for p in fresh.iterdir())
    assert generated, "protoc produced nothing"
    ours = sorted(p.name for p in committed.iterdir() if p.name != "__init__.py" and p.is_file())
    assert ours == generated, "files differ: run make proto"
    _match, mismatch, errors = filecmp.cmpfiles(fresh, committed, generated, shallow=False)
    assert not mismatch and not errors, f"stale generated code {mismatch + errors}: run make proto"
