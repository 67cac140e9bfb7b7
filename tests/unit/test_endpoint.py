"""How a command decides where to connect and as whom."""

from pathlib import Path

import pytest

from cluster.errors import NotAuthorized, UsageError
from cluster.paths import HostPaths
from cluster.security.identity import Role
from cluster.transport.client import command_endpoint, split_host_port
from tests.support import ClusterCA


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("node1", ("node1", 5302)),
        ("node1:6000", ("node1", 6000)),
        ("198.18.0.1:5302", ("198.18.0.1", 5302)),
        ("[2001:db8::1]:7000", ("2001:db8::1", 7000)),
        ("[2001:db8::1]", ("2001:db8::1", 5302)),
        ("2001:db8::1", ("2001:db8::1", 5302)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize("text", ["node1:", "node1:x", "node1:70000", ":5302", "a:b:c"])
def test_split_host_port_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        split_host_port(text)


def test_root_without_certificate_uses_the_socket(tmp_path: Path) -> None:
    endpoint = command_endpoint(HostPaths(tmp_path), environ={})
    assert endpoint.credentials is None
    assert endpoint.target == f"unix:{tmp_path}/var/run/cmcluster/cmcld.sock"


def test_certificate_means_tls(cluster_ca: ClusterCA, tmp_path: Path) -> None:
    bundle = cluster_ca.bundle(tmp_path / "u.pem", user="u", role=Role.MONITOR)
    by_name = command_endpoint(HostPaths(tmp_path), cert=str(bundle), server="node2", environ={})
    assert (by_name.target, by_name.server_name) == ("node2:5302", "node2")
    by_ip = command_endpoint(
        HostPaths(tmp_path),
        environ={"CMCLUSTER_CERT": str(bundle), "CMCLUSTER_SERVER": "198.18.0.9"},
    )
    assert (by_ip.target, by_ip.server_name) == ("198.18.0.9:5302", None)


def test_server_without_certificate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--server needs a user certificate"):
        command_endpoint(HostPaths(tmp_path), server="node2", environ={})


def test_non_root_without_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(NotAuthorized, match="cmcert issue --user"):
        command_endpoint(HostPaths(tmp_path), environ={})


def test_absurd_ports_are_one_short_line() -> None:
    from cluster.errors import CmError
    from cluster.transport.server import split_listen

    huge = "1.2.3.4:" + "9" * 5000
    with pytest.raises(UsageError) as refused:
        split_host_port(huge)
    assert len(str(refused.value)) < 200
    with pytest.raises(CmError) as bad:
        split_listen(huge)
    assert len(str(bad.value)) < 200
    with pytest.raises(CmError):
        split_listen("0.0.0.0:\u0663")  # an Arabic-Indic digit is a digit, not a port
