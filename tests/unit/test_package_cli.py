"""cmrunpkg, cmhaltpkg and cmmodpkg: arguments, errors, progress and exit status.

The daemon is replaced at our own seam, `admin_client`, by a client that answers each
call with scripted progress lines and an Outcome.
"""

from collections.abc import Iterator, Sequence
from types import TracebackType

import pytest

from cluster.cli import connect
from cluster.cli import main as cli
from cluster.transport.client import Outcome


class FakeClient:
    """Records the calls; a package named 'bad*' fails, any other succeeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def __enter__(self) -> "FakeClient":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass

    def _answer(self, verb: str, package: str, node: str) -> Iterator[str | Outcome]:
        where = f" on node {node}" if node else ""
        yield f"{verb} package {package}{where}"
        if package.startswith("bad"):
            yield Outcome(False, f"run script of {package} exited 1; see cmlog -p {package}")
        else:
            yield Outcome(True, f"package {package} done")

    def run_package(
        self, package: str, node: str, modules: Sequence[str] = (), preview: int = 0
    ) -> Iterator[str | Outcome]:
        self.calls.append(("run", package, node, *([tuple(modules)] if modules else [])))
        return self._answer("Running", package, node)

    def halt_package(
        self, package: str, node: str, modules: Sequence[str] = (), preview: int = 0
    ) -> Iterator[str | Outcome]:
        self.calls.append(("halt", package, node, *([tuple(modules)] if modules else [])))
        return self._answer("Halting", package, node)

    def modify_package(
        self,
        package: str,
        enable: bool,
        nodes: Sequence[str],
        maintenance: bool | None = None,
        preview: int = 0,
    ) -> Iterator[str | Outcome]:
        if maintenance is not None:
            self.calls.append(("maintenance", package, maintenance, tuple(nodes)))
            return self._answer("Maintenance", package, ",".join(nodes))
        self.calls.append(("modify", package, enable, tuple(nodes)))
        return self._answer("Enabling" if enable else "Disabling", package, ",".join(nodes))


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    fake = FakeClient()
    monkeypatch.setattr(connect, "admin_client", lambda args, timeout=30.0: fake)
    return fake


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.dispatch(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_cmrunpkg_prints_progress_and_the_serviceguard_last_line(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["cmrunpkg", "-v", "-n", "node2", "pkg1", "pkg2", "pkg1"], capsys)
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "Running package pkg1 on node node2",
        "cmrunpkg: package pkg1 done",
        "Running package pkg2 on node node2",
        "cmrunpkg: package pkg2 done",
        "cmrunpkg: Completed successfully on all packages specified.",
    ]
    assert client.calls == [("run", "pkg1", "node2"), ("run", "pkg2", "node2")]


def test_a_failed_package_is_one_error_line_and_the_others_still_run(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["cmrunpkg", "bad1", "pkg2"], capsys)
    assert status == 1
    assert out.splitlines() == ["Running package bad1", "Running package pkg2"]
    assert err == "cmrunpkg: Unable to run bad1: run script of bad1 exited 1; see cmlog -p bad1\n"
    assert [c[1] for c in client.calls] == ["bad1", "pkg2"]


def test_cmhaltpkg_halts_on_each_node_named(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["cmhaltpkg", "-n", "node1", "-n", "node2", "pkg1"], capsys)
    assert status == 0
    assert client.calls == [("halt", "pkg1", "node1"), ("halt", "pkg1", "node2")]
    assert out.splitlines()[-1] == "cmhaltpkg: Completed successfully on all packages specified."


def test_cmhaltpkg_without_n_halts_wherever_it_runs(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(["cmhaltpkg", "bad1"], capsys)
    assert status == 1
    assert client.calls == [("halt", "bad1", "")]
    assert err.startswith("cmhaltpkg: Unable to halt bad1: ")


def test_cmmodpkg_global_and_node_switching(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["cmmodpkg", "-e", "pkg1"], capsys)[0] == 0
    assert run(["cmmodpkg", "-d", "-n", "node2", "-n", "node3", "-v", "pkg1"], capsys)[0] == 0
    assert client.calls == [
        ("modify", "pkg1", True, ()),
        ("modify", "pkg1", False, ("node2", "node3")),
    ]


def test_maintenance_partial_start_and_services_only_halt_reach_the_client(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["cmmodpkg", "-m", "on", "-n", "node2", "pkg1"], capsys)[0] == 0
    assert run(["cmmodpkg", "-m", "off", "pkg1"], capsys)[0] == 0
    assert run(["cmrunpkg", "-m", "sg/filesystem", "-e", "package_ip", "pkg1"], capsys)[0] == 0
    assert run(["cmrunpkg", "-e", "sg/service", "pkg1"], capsys)[0] == 0
    assert run(["cmhaltpkg", "-s", "pkg1"], capsys)[0] == 0
    assert client.calls == [
        ("maintenance", "pkg1", True, ("node2",)),
        ("maintenance", "pkg1", False, ()),
        ("run", "pkg1", "", ("sg/volume_group", "sg/filesystem")),
        (
            "run",
            "pkg1",
            "",
            ("sg/volume_group", "sg/package_ip", "sg/filesystem", "sg/ocf", "sg/external"),
        ),
        ("halt", "pkg1", "", ("sg/service",)),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["cmmodpkg", "-e", "-d", "pkg1"],
            "cmmodpkg: -e and -d together: give one of -e, -d or -m (see cmmodpkg --help)",
        ),
        (
            ["cmmodpkg", "-d", "-m", "on", "pkg1"],
            "cmmodpkg: -d and -m together: give one of -e, -d or -m (see cmmodpkg --help)",
        ),
        (
            ["cmmodpkg", "-m", "on", "-n", "node1", "-n", "node2", "pkg1"],
            "cmmodpkg: -m: maintenance mode is on one node, give at most one -n",
        ),
        (
            ["cmmodpkg", "pkg1"],
            "cmmodpkg: say what to change: -e to enable switching, -d to disable it, or "
            "-m on|off for maintenance mode (see cmmodpkg --help)",
        ),
        (
            ["cmrunpkg", "-m", "sg/nothing", "pkg1"],
            "cmrunpkg: unknown module 'sg/nothing': one of sg/volume_group, sg/package_ip, "
            "sg/filesystem, sg/ocf, sg/external, sg/service (see cmrunpkg --help)",
        ),
        (
            ["cmrunpkg", "-m", "package_ip", "-e", "service", "pkg1"],
            "cmrunpkg: -e sg/service must come before -m sg/package_ip in the start order "
            "(see cmrunpkg --help)",
        ),
        (
            ["cmrunpkg"],
            "cmrunpkg: the following arguments are required: PKG (see cmrunpkg --help)",
        ),
        (
            ["cmhaltpkg", "-n", "node1"],
            "cmhaltpkg: the following arguments are required: PKG (see cmhaltpkg --help)",
        ),
        (
            ["cmrunpkg", "-x", "pkg1"],
            "cmrunpkg: unrecognized arguments: -x (see cmrunpkg --help)",
        ),
        (
            ["cmrunpkg", "-n", "node1", "-n", "node2", "pkg1"],
            "cmrunpkg: -n given 2 times: a package is started on one node; run cmrunpkg once "
            "per node for a multi_node package",
        ),
        (
            ["cmrunpkg", "pkg/1"],
            "cmrunpkg: argument PKG: invalid package name 'pkg/1': use 1 to 39 "
            "letters, digits, '_', '.' or '-', starting and ending with a letter or digit "
            "(see cmrunpkg --help)",
        ),
        (
            ["cmmodpkg", "-e", "-n", "node_1", "pkg1"],
            "cmmodpkg: argument -n: invalid node name 'node_1': use 1 to 39 letters, digits or "
            "hyphens, starting and ending with a letter or digit (see cmmodpkg --help)",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(argv, capsys)
    assert (status, out, err) == (2, "", message + "\n")
    assert client.calls == []


def test_the_commands_are_listed_and_import_lazily(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.dispatch(["cmcluster.pyz", "help"]) == 0
    out = capsys.readouterr().out
    for name in ("cmrunpkg", "cmhaltpkg", "cmmodpkg"):
        assert f"  {name} " in out

    import subprocess
    import sys

    code = (
        "import sys; from cluster.cli.main import dispatch;"
        "rc = dispatch(['cmmodpkg', '-e', '-d', 'pkg1']);"
        "print(rc, 'grpc' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "2 False"
