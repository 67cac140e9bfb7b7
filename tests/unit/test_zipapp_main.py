"""Where the zipapp unpacks (packaging/zipapp_main.py), decided without building it."""

import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

from cluster.cli.main import forget_chosen_shiv_root

SOURCE = Path(__file__).resolve().parents[2] / "packaging" / "zipapp_main.py"
BUILD = "b1d"


@pytest.fixture
def boot() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("zipapp_main_under_test", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__dict__["BUILD_ID"] = BUILD
    return module


def app(tmp_path: Path) -> Path:
    path = tmp_path / "prefix" / "bin" / "cmcluster"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    (path.parent / "cmviewcl").symlink_to("cmcluster")
    return path


def test_a_writable_home_keeps_shivs_default(
    boot: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    assert boot.choose_root(str(app(tmp_path)), {}, os.geteuid()) == (None, "")


def test_the_installed_copy_comes_first_when_nobody_else_can_write_it(
    boot: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    link = app(tmp_path).parent / "cmviewcl"  # named by its link, unpacked by its target
    installed = tmp_path / "prefix" / "lib" / "cmcluster"
    unpacked = installed / f"cmcluster_{BUILD}" / "site-packages"
    unpacked.mkdir(parents=True)
    for path in (installed, unpacked.parent, unpacked):
        path.chmod(0o755)
    assert boot.choose_root(str(link), {}, os.geteuid()) == (str(installed), "")
    unpacked.chmod(0o777)  # another user could put code there
    assert boot.choose_root(str(link), {}, os.geteuid()) == (None, "")


def test_without_a_home_a_private_directory_is_used(
    boot: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.setattr(boot, "_writable", lambda _root: False)  # root could write anywhere
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    uid = os.geteuid()
    env = {"XDG_RUNTIME_DIR": str(runtime), "TMPDIR": str(tmp_path)}
    argv0 = str(app(tmp_path))
    assert boot.choose_root(argv0, env, uid) == (str(runtime / "cmcluster"), "")
    runtime.chmod(0o755)  # not private: /tmp instead
    assert boot.choose_root(argv0, env, uid) == (
        str(tmp_path / f"cmcluster-{uid}"),
        "",
    )
    assert (tmp_path / f"cmcluster-{uid}").stat().st_mode & 0o777 == 0o700
    (tmp_path / f"cmcluster-{uid}").chmod(0o777)  # not private (someone else's trap)
    root, problem = boot.choose_root(argv0, env, uid)
    assert root is None and problem.startswith("cannot unpack: /nonexistent/.shiv cannot be")


def test_a_root_chosen_for_the_run_is_not_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("_cmcluster_main")
    main.CHOSEN = "/tmp/cmcluster-1000"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "_cmcluster_main", main)
    monkeypatch.setenv("SHIV_ROOT", "/tmp/cmcluster-1000")
    forget_chosen_shiv_root()
    assert "SHIV_ROOT" not in os.environ
    monkeypatch.setenv("SHIV_ROOT", "/srv/shiv")  # the operator's own choice stays
    forget_chosen_shiv_root()
    assert os.environ["SHIV_ROOT"] == "/srv/shiv"
