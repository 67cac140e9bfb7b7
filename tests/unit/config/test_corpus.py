"""The corpus: valid configurations check and round-trip; broken ones give their messages."""

import pytest

from cluster.config.check import check_config
from cluster.config.compile import blob_bytes, decode_config, make_blob, read_blob
from cluster.config.model import Config
from cluster.config.render import render_cluster, render_package
from cluster.config.source import PackageSource, Source

from .corpus import Case, broken_cases, expectations, short, valid_cases

VALID = valid_cases()
BROKEN = broken_cases()


def checked(case: Case) -> Config:
    result = case.check()
    assert not result.errors, "\n".join(map(str, result.errors))
    assert result.config is not None
    _, expected_warnings = expectations(case)
    assert {short(p.path, p.line, p.message) for p in result.warnings} == expected_warnings
    return result.config


def rendered(config: Config) -> Config:
    """cmgetconf's texts of every file, parsed and checked again."""
    cluster = Source("rendered/cluster.ascii", render_cluster(config.cluster, ["cmgetconf"]))
    packages = [
        PackageSource(f"rendered/{p.name}.conf", render_package(p)) for p in config.packages
    ]
    result = check_config(cluster, packages)
    assert result.config is not None, "\n".join(map(str, result.problems))
    return result.config


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_valid_configuration_checks(case: Case) -> None:
    checked(case)


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_parse_compile_render_parse_loses_nothing(case: Case) -> None:
    config = checked(case)
    blob = read_blob(blob_bytes(make_blob(config, generation=7)))
    assert blob.generation == 7
    decoded = decode_config(blob)
    assert decoded == config
    again = rendered(decoded)
    assert again == config
    assert again.cluster.document == config.cluster.document
    assert [p.document for p in again.packages] == [p.document for p in config.packages]
    assert rendered(again) == config  # and the rendering is stable


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_compiled_bytes_are_deterministic(case: Case) -> None:
    first = make_blob(checked(case), generation=1)
    second = make_blob(checked(case), generation=1)
    assert blob_bytes(first) == blob_bytes(second)
    assert first.digest == second.digest


def test_legacy_pair_is_the_modular_package_without_its_scripts() -> None:
    by_name = {c.name: checked(c) for c in VALID}
    modular = by_name["guide-modular"].packages[0]
    legacy = by_name["guide-legacy"].packages[0]
    # The legacy control script is not run, so the scripts and the free text differ.
    from dataclasses import replace

    assert replace(modular, run_script=None, halt_script=None, description="") == legacy


def test_there_are_broken_cases() -> None:
    assert len(BROKEN) >= 30


@pytest.mark.parametrize("case", BROKEN, ids=lambda c: c.name)
def test_broken_configuration_reports_its_problems(case: Case) -> None:
    expected_errors, expected_warnings = expectations(case)
    assert expected_errors, f"{case.name} announces no '# expect:' line"
    result = case.check()
    assert result.config is None
    errors = {short(p.path, p.line, p.message) for p in result.errors}
    warnings = {short(p.path, p.line, p.message) for p in result.warnings}
    assert errors == expected_errors
    assert expected_warnings <= warnings
