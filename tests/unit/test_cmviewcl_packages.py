"""cmviewcl with packages: the table (default and -v), -l, -n, -p, line and json."""

import dataclasses
import json
from types import TracebackType

import pytest

from cluster.cli import connect
from cluster.cli import main as cli
from cluster.cli.cmviewcl import lines, table
from cluster.core.model import ClusterView
from tests.unit.test_convert_packages import HALTED, MULTI, PKG1, view

VIEW = view(PKG1, dataclasses.replace(MULTI, services=(), reason=""), HALTED)

DEFAULT = """\
CLUSTER        STATUS
prod           up

  NODE           STATUS       STATE
  node1          up           running

    PACKAGE        STATUS       STATE        AUTO_RUN     NODE
    pkg1           up           running      enabled      node1
    agent          up           running      disabled     node1

  NODE           STATUS       STATE
  node2          up           running

    PACKAGE        STATUS       STATE        AUTO_RUN     NODE
    agent          up           running      disabled     node2

UNOWNED_PACKAGES

    PACKAGE        STATUS       STATE        AUTO_RUN     NODE
    db             down         halted       disabled     unowned"""

VERBOSE_PKG1 = """\
    PACKAGE        STATUS       STATE        AUTO_RUN     NODE
    pkg1           up           running      enabled      node1

      Policy_Parameters:
      POLICY_NAME     CONFIGURED_VALUE
      Failover        configured_node
      Failback        manual

      Script_Parameters:
      ITEM       STATUS       MAX_RESTARTS  RESTARTS     NAME
      Service    up           3             2            web
      Service    down         unlimited     0            cron
      Subnet     up                                      198.18.0.0/24
      Subnet     down                                    198.18.1.0/24

      Node_Switching_Parameters:
      NODE_TYPE    STATUS       SWITCHING    NAME
      Primary      up           enabled      node1          (current)
      Alternate    up           disabled     node2          (failed here: cmmodpkg -e clears it)
"""


def test_default_table_puts_packages_under_their_nodes_then_unowned() -> None:
    assert table(VIEW, False, None) == DEFAULT


def test_verbose_table_shows_policies_services_subnets_and_node_switching() -> None:
    out = table(VIEW, True, None)
    assert VERBOSE_PKG1 in out
    assert "UNOWNED_PACKAGES" in out
    assert "(no packages are configured)" not in out


def test_the_reason_is_shown_with_v() -> None:
    waiting = dataclasses.replace(HALTED, reason="no node may run db: node2 failed it before")
    out = table(view(waiting), True, None)
    assert "      Reason: no node may run db: node2 failed it before" in out
    assert "Reason" not in table(view(waiting), False, None)


def test_a_down_node_shows_in_node_switching() -> None:
    down = dataclasses.replace(
        VIEW, nodes=(VIEW.nodes[0], dataclasses.replace(VIEW.nodes[1], status="down"))
    )
    out = table(down, True, None)
    assert "      Alternate    down         disabled     node2" in out


def test_level_node_hides_packages_and_level_package_lists_them() -> None:
    assert "PACKAGE" not in table(VIEW, False, "node")
    assert table(VIEW, False, "package").splitlines()[2:] == [
        "",
        "    PACKAGE        STATUS       STATE        AUTO_RUN     NODE",
        "    pkg1           up           running      enabled      node1",
        "    agent          up           running      disabled     node1, node2",
        "    db             down         halted       disabled     unowned",
    ]


def test_long_package_names_widen_the_column() -> None:
    long = dataclasses.replace(HALTED, name="a-rather-long-package-name")
    rows = table(view(long), False, None).splitlines()
    assert rows[-2:] == [
        "    PACKAGE                    STATUS       STATE        AUTO_RUN     NODE",
        "    a-rather-long-package-name down         halted       disabled     unowned",
    ]


def test_line_format_has_every_package_field() -> None:
    out = lines(VIEW)
    for expected in (
        "package:pkg1|status=up",
        "package:pkg1|state=running",
        "package:pkg1|autorun=enabled",
        "package:pkg1|type=failover",
        "package:pkg1|node=node1",
        "package:pkg1|policy:failover=configured_node",
        "package:pkg1|policy:failback=manual",
        "package:pkg1|service:web|status=up",
        "package:pkg1|service:web|restarts=2",
        "package:pkg1|service:web|max_restarts=3",
        "package:pkg1|service:web|pid=4242",
        "package:pkg1|subnet:198.18.0.0/24|status=up",
        "package:pkg1|subnet:198.18.1.0/24|status=down",
        "package:db|subnet:198.18.0.0/24|status=unknown",
        "package:pkg1|node:node1|type=primary",
        "package:pkg1|node:node1|current=yes",
        "package:pkg1|node:node2|switching=disabled",
        "package:pkg1|node:node2|failed=yes",
        "package:agent|node=node1,node2",
        "package:db|status=down",
        "package:db|node=",
    ):
        assert expected in out
    assert all("\n" not in line for line in out)


class Client:
    def __init__(self, answer: ClusterView) -> None:
        self.answer = answer

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass

    def view(self) -> ClusterView:
        return self.answer


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connect, "admin_client", lambda args, timeout=30.0: Client(VIEW))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.dispatch(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_json_includes_every_package_field(
    served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["cmviewcl", "-f", "json"], capsys)
    assert status == 0
    packages = json.loads(out)["packages"]
    assert [p["name"] for p in packages] == ["pkg1", "agent", "db"]
    assert packages[0] == json.loads(json.dumps(dataclasses.asdict(PKG1)))


def test_p_shows_only_that_package(served: None, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["cmviewcl", "-p", "db"], capsys)
    assert status == 0
    assert "db             down" in out
    assert "pkg1" not in out and "NODE           STATUS" not in out
    status, out, _ = run(["cmviewcl", "-p", "db", "-f", "line"], capsys)
    assert "package:db|status=down" in out.splitlines()
    assert not any(line.startswith("package:pkg1") for line in out.splitlines())


def test_p_of_an_unknown_package_says_which_exist(
    served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["cmviewcl", "-p", "nope"], capsys) == (
        1,
        "",
        "cmviewcl: no package named nope is configured (configured: agent, db, pkg1)\n",
    )


def test_n_shows_that_node_and_its_packages(
    served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["cmviewcl", "-n", "node2"], capsys)
    assert status == 0
    assert "agent" in out and "node1" not in out
    assert "pkg1" not in out and "UNOWNED_PACKAGES" not in out


def test_n_v_shows_the_status_of_nodes_it_does_not_show(
    served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["cmviewcl", "-v", "-n", "node1"], capsys)
    assert status == 0
    assert "  node2          up" not in out  # node2's own section is not shown
    assert "Alternate    up           disabled     node2" in out, out
    assert "unknown" not in out


def test_n_and_p_together_is_a_usage_error(
    served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["cmviewcl", "-n", "node1", "-p", "pkg1"], capsys) == (
        2,
        "",
        "cmviewcl: -n and -p together: choose nodes or packages (see cmviewcl --help)\n",
    )


def test_maintenance_mode_shows_as_state_and_with_v_what_is_down() -> None:
    """Serviceguard: STATUS up, STATE maintenance; -v says where and what is not up."""
    kept = dataclasses.replace(
        PKG1, state="maintenance", maintenance="node1", ailing="sg/service down"
    )
    out = table(view(kept), True, None)
    assert "    pkg1           up           maintenance  enabled      node1" in out
    assert "      Maintenance: on, on node1 (cmmodpkg -m off ends it)" in out
    assert "      Not up or failing (not acted on): sg/service down" in out
    assert "Maintenance" not in table(VIEW, True, None)
    line = lines(view(kept))
    assert (
        "package:pkg1|maintenance=node1" in line and "package:pkg1|ailing=sg/service down" in line
    )
    assert "package:db|maintenance=off" in lines(VIEW)
