"""Legacy control scripts: arrays into the modular entries."""

from pathlib import Path

from cluster.config.check import load_package
from cluster.config.legacy import looks_like_control_script, read_arrays
from cluster.config.problems import Problems
from cluster.config.source import PackageSource, Source, read_package_source

CONF = "PACKAGE_NAME p\nNODE_NAME a\nRUN_SCRIPT /etc/cmcluster/p/control.sh\n"


def legacy(control: str, conf: str = CONF) -> PackageSource:
    return PackageSource(
        "p.conf", conf, Source("control.sh", control), "/etc/cmcluster/p/control.sh"
    )


def test_service_restart_forms() -> None:
    conf = CONF + "SERVICE_NAME s0\nSERVICE_NAME s1\nSERVICE_NAME s2\nSERVICE_NAME s3\n"
    control = (
        'SERVICE_NAME[0]=s0; SERVICE_CMD[0]="/bin/a"; SERVICE_RESTART[0]="-r 2"\n'
        'SERVICE_NAME[1]=s1; SERVICE_CMD[1]="/bin/b"; SERVICE_RESTART[1]="-R"\n'
        'SERVICE_NAME[2]=s2; SERVICE_CMD[2]="/bin/c"; SERVICE_RESTART[2]=""\n'
        "SERVICE_NAME[3]=s3; SERVICE_CMD[3]=/bin/d; SERVICE_RESTART[3]=-r5\n"
    )
    package = load_package(legacy(control, conf))
    assert [(s.name, s.command, s.restart) for s in package.services] == [
        ("s0", "/bin/a", 2),
        ("s1", "/bin/b", None),
        ("s2", "/bin/c", 0),
        ("s3", "/bin/d", 5),
    ]


def test_addresses_of_one_subnet_share_one_ip_subnet_and_indexes_may_skip() -> None:
    control = (
        "IP[0]=198.18.1.10\nSUBNET[0]=198.18.1.0\n"
        "IP[2]=198.18.2.10\nSUBNET[2]=198.18.2.0\n"
        "IP[3]=198.18.1.11\nSUBNET[3]=198.18.1.0\n"
    )
    package = load_package(legacy(control))
    assert [(s.subnet, s.addresses) for s in package.ip_subnets] == [
        ("198.18.1.0", ("198.18.1.10", "198.18.1.11")),
        ("198.18.2.0", ("198.18.2.10",)),
    ]
    assert package.run_script is None  # the control script itself is not run


def test_filesystem_arrays_and_messages_name_the_control_script() -> None:
    control = 'LV[1]=/dev/vg01/lv1; FS[1]=/data; FS_TYPE[1]=xfs; FS_FSCK_OPT[1]="-y"\n'
    package = load_package(legacy(control))
    fs = package.filesystems[0]
    assert (fs.device, fs.directory, fs.type, fs.fsck_options) == (
        "/dev/vg01/lv1",
        "/data",
        "xfs",
        "-y",
    )
    assert fs.origin.where("FS_TYPE") == ("control.sh", 1)


def test_shell_details() -> None:
    problems = Problems()
    text = (
        "  VG[0]='vg $x' # quoted literally\n"
        'X=1; VG[1]="vg01;2"\n'
        "VG[2]=a b\n"
        "if true; then VG[3]=vg3; fi\n"
        "VG[x]=vg\n"
        "CVM_DG[0]=dg1\n"
        'XFS[0]=""\n'
    )
    arrays = read_arrays(text, "c", problems)
    assert {i: a.value for i, a in arrays["VG"].items() if a.valid} == {0: "vg $x", 1: "vg01;2"}
    assert [str(p) for p in problems.errors] == [
        "c:3: VG[2]: a value with spaces must be quoted",
        "c:5: VG[x]: the index must be a number from 0 to 1023",
        "c:6: CVM_DG: Veritas CVM/VxVM/CFS is not supported: use VG (LVM) and FS_NAME instead",
    ]


def test_control_scripts_are_found_through_run_script(tmp_path: Path) -> None:
    control = tmp_path / "control.sh"
    control.write_text("VG[0]=vg01\n")
    conf = tmp_path / "p.conf"
    conf.write_text(f"PACKAGE_NAME p\nNODE_NAME a\nRUN_SCRIPT {control}\n")
    source = read_package_source(conf)
    assert source.control is not None and source.control_name == str(control)
    assert load_package(source).volume_groups == ("vg01",)
    # an ordinary run script is just a run script
    control.write_text("#!/bin/sh\nexec /opt/app/start\n")
    source = read_package_source(conf)
    assert source.control is None
    assert load_package(source).run_script == str(control)
    assert looks_like_control_script("function customer_defined_run_cmds\n{\n}\n")
