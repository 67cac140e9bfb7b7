"""A floating IP is added only while this node may run packages, checked after the
duplicate-address probe and after the lease guard was told of it (issue 13 pt 10)."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.lab import Lab
from tests.netns.resources.conftest import has_address, in_host

VIP = "198.18.0.100"


@pytest.fixture
def lab() -> Iterator[Lab]:
    while True:  # "h1" names, none of which this machine has
        prefix = "h1" + secrets.token_hex(3)
        if not any(p.name.startswith(prefix) for p in Path("/run/netns").glob("*")):
            break
    with Lab(prefix=prefix) as lab:
        lab.build(["a"], networks=("lan",))
        yield lab


def test_no_address_is_added_once_the_lease_is_gone(lab: Lab) -> None:
    code = """
    from cluster.resources.ip import FloatingIP
    async def main():
        told, checks = [], []
        ip = FloatingIP(ARGS["vip"], arp_count=1)
        def may_run():  # the lease was lost during the probe
            checks.append([a.address for a in ip.stop_now_actions()])
            return False
        ctx = context(on_change=lambda: told.append(len(ip.stop_now_actions())),
                      may_run=may_run)
        try:
            await ip.start(ctx)
        except ResourceError as exc:
            result["error"] = str(exc)
        result["told"], result["checks"], result["active"] = told, checks, ip.active
    asyncio.run(main())
    """
    result = in_host(lab, "a", code, vip=VIP)
    assert result["error"].startswith(f"not adding {VIP}: this node no longer holds its lease")
    assert result["told"] == [1, 0], "the guard was not told of the address before the check"
    assert result["checks"] == [[VIP]], "the lease was not checked once the guard knew"
    assert not result["active"]
    assert has_address(lab, "a", VIP) is None
