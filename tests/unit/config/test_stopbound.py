"""STOP_MARGIN from the packages' stop-now bounds; refusals and warnings with the figures;
what protects against a frozen host."""

from cluster.config.stopbound import (
    package_stop_bound,
    stop_margin_ns,
    stop_margin_us,
    watchdog_timeout_ns,
)
from cluster.core.timing import MS, SECOND
from cluster.resources import stopnow

from .helpers import THREE_NODES, check, config, messages

WATCHDOG = "WATCHDOG_DEVICE /dev/watchdog\n"
FS = """
package_name web
node_name a
node_name b
ip_subnet 198.18.1.0/24
ip_address 198.18.1.100
fs_name /dev/sdb1
fs_directory /srv/www
service_name httpd
service_cmd /usr/sbin/httpd
"""
VG = """
package_name db
node_name a
node_name b
vg vg01
ocf_resource_name dbip
ocf_agent heartbeat/IPaddr2
ocf_parameter ip=198.18.1.50
"""


def cluster(member_timeout: str, extra: str = WATCHDOG) -> str:
    return THREE_NODES + f"MEMBER_TIMEOUT {member_timeout}\n" + extra


def test_margin_is_the_default_until_a_package_needs_more() -> None:
    assert stop_margin_us(config(cluster("1s"))) == 200_000
    assert stop_margin_us(config(cluster("14s"))) == 2_800_000
    # web: one service, one address, one filesystem, and the guard waking up.
    web = package_stop_bound(config(cluster("1s"), FS).packages[0])
    assert web.total_us == 10_000 + 10_000 + 220_000 + 20_000
    assert web.words() == "1 process group 10ms, 1 address 10ms, fs /srv/www 220ms, wake-up 20ms"
    assert stop_margin_ns(config(cluster("1s"), FS)) == 260 * MS
    assert stop_margin_us(config(cluster("14s"), FS)) == 2_800_000  # the default covers it
    assert stop_margin_us(config(cluster("14s"), FS, VG)) == 5_020_000  # OCF 2 s + VG 3 s


def test_config_bounds_are_the_bounds_stop_now_enforces() -> None:
    """The check's sum and the executor's, for the same resources, are one figure."""
    (web,) = config(cluster("14s"), FS).packages
    (db,) = config(cluster("14s"), VG).packages
    plan = stopnow.build_plan(
        "a",
        [
            stopnow.KillGroup("web", "service httpd", 1, 1),
            stopnow.DeleteAddress("web", "ip", "eth1", "198.18.1.100", 24),
            stopnow.Unmount("web", "fs /srv/www", "/srv/www", "/dev/sdb1"),
            stopnow.OcfStop("db", "ocf dbip", "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"),
            stopnow.DeactivateVG("db", "vg vg01", "vg01", "a"),
        ],
    )
    bounds = stopnow.package_bounds(plan)
    assert bounds == {
        "web": package_stop_bound(web).total_us * 1000,
        "db": package_stop_bound(db).total_us * 1000,
    }


def test_a_package_that_cannot_stop_within_the_margin_is_refused_with_the_figures() -> None:
    result = check(cluster("2s"), VG)
    assert not result.ok
    assert messages(result) == [
        "pkg1.conf:1: package db cannot stop within STOP_MARGIN: its stop-now may take 5.02s "
        "(OCF dbip 2s, vg vg01 3s, wake-up 20ms), but at MEMBER_TIMEOUT 2s STOP_MARGIN is at "
        "most 1s (MEMBER_TIMEOUT/2), so another node could start it while this one still "
        "holds it; raise MEMBER_TIMEOUT to at least 10.04s"
    ]
    assert check(cluster("10040ms"), VG).ok
    assert not check(cluster("10039ms"), VG).ok


def test_a_package_that_widens_the_margin_is_warned_of_with_the_figures() -> None:
    result = check(cluster("1s"), FS)
    assert result.ok
    assert messages(result, warnings=True)[-1] == (
        "pkg1.conf:1: warning: STOP_MARGIN is 260ms instead of 200ms so that package web can "
        "stop in time (1 process group 10ms, 1 address 10ms, fs /srv/www 220ms, wake-up 20ms): "
        "a node whose pings go unanswered then stops its packages after 740ms instead of "
        "800ms (MEMBER_TIMEOUT 1s minus STOP_MARGIN)"
    )
    assert not any("STOP_MARGIN" in m for m in messages(check(cluster("14s"), FS), True))


def test_no_watchdog_names_the_frozen_host_risk_and_who_is_unprotected() -> None:
    services_only = "package_name batch\nnode_name a\nservice_name b\nservice_cmd /bin/b\n"
    result = check(cluster("14s", extra=""), FS, services_only)
    assert messages(result, warnings=True) == [
        "cluster.ascii:1: warning: no WATCHDOG_DEVICE: a host frozen together with its lease "
        "guard (VM pause, cgroup freeze, SIGSTOP of both) keeps its packages' processes, "
        "addresses and mounts until it resumes, while another node takes them over after "
        "MEMBER_TIMEOUT 14s; only the duplicate-address probe (floating IPs) and MMP "
        "(ext4 -O mmp) then protect; nothing protects batch (no floating IP, no filesystem). "
        "Configure a watchdog (softdog or a hardware one)"
    ]
    assert messages(check(cluster("14s", extra="")), warnings=True) == []  # no packages
    multi = "package_name mon\npackage_type multi_node\nnode_name *\n"
    assert messages(check(cluster("14s", extra=""), multi), warnings=True) == []
    assert messages(check(cluster("14s"), FS, services_only), warnings=True) == []


def test_a_watchdog_too_coarse_for_the_lease_is_warned_of() -> None:
    result = check(cluster("1s"))
    assert messages(result, warnings=True)[-1] == (
        "cluster.ascii:18: warning: WATCHDOG_DEVICE /dev/watchdog cannot reset a frozen host "
        "before others take over at MEMBER_TIMEOUT 1s: a watchdog timeout is whole seconds, "
        "and the lease must hold two of them (a host whose clock stopped while frozen does "
        "not know it was), so it allows at most 392ms (half of MEMBER_TIMEOUT less two "
        "heartbeats, less 2 %); raise MEMBER_TIMEOUT to at least 2.55s"
    )
    assert not any("WATCHDOG" in m for m in messages(check(cluster("2550ms")), True))
    assert any("WATCHDOG" in m for m in messages(check(cluster("2549ms")), True))


def test_the_watchdog_timeout_fits_the_lease_and_what_stop_margin_leaves() -> None:
    """MEMBER_TIMEOUT 14 s: the lease allows 5.88 s, but STOP_MARGIN 2.8 s less the web
    package's stop-now leaves 2.5 s, so 2 s: a host cut off then stops its packages
    before the device resets it. At 3 s nothing of STOP_MARGIN is left over a second:
    the lease's 1 s."""
    assert watchdog_timeout_ns(config(cluster("14s"), FS)) == 2 * SECOND
    assert watchdog_timeout_ns(config(cluster("60s"), FS)) == 11 * SECOND
    assert watchdog_timeout_ns(config(cluster("3s"), FS)) == SECOND
    assert watchdog_timeout_ns(config(cluster("2s"), FS)) == 0
