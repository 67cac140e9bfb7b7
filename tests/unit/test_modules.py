"""Package modules (cluster/packages/modules.py): what a partial start covers, and the
check of module names arriving in an RPC field."""

import pytest

from cluster.errors import FieldError
from cluster.packages.modules import NAMES, check_modules, module_name, partial_start
from cluster.transport.fields import check_package_fields


def test_partial_start_up_to_a_module_except_earlier_ones() -> None:
    assert partial_start(None, []) == ()
    assert partial_start("package_ip", []) == ("sg/volume_group", "sg/package_ip")
    assert partial_start("sg/service", ["sg/package_ip"]) == tuple(
        n for n in NAMES if n != "sg/package_ip"
    )
    assert partial_start(None, ["service"]) == NAMES[:-1]
    with pytest.raises(ValueError, match="must come before -m sg/package_ip"):
        partial_start("sg/package_ip", ["sg/service"])
    with pytest.raises(ValueError, match="nothing would be started"):
        partial_start("sg/volume_group", ["sg/volume_group"])
    with pytest.raises(ValueError, match="unknown module 'web'"):
        module_name("web")


def test_module_names_in_rpc_fields_are_checked() -> None:
    assert check_modules(["sg/service"]) == ""
    assert "unknown module" in check_modules(["service"])  # the wire carries full names
    assert "twice" in check_modules(["sg/service", "sg/service"])
    assert "at most" in check_modules(["sg/service"] * 20)
    with pytest.raises(FieldError) as raised:
        check_package_fields("pkg1", [], "node_name", ["sg/x" * 100], "halt.modules")
    assert raised.value.field == "halt.modules"
