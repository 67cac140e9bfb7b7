"""The whole check of cmcheckconf and cmapplyconf: texts in, problems (and a model) out.

As in Serviceguard, `cmapplyconf -P pkg.conf` adds or replaces that package and keeps
the others, and `-C cluster.ascii` alone replaces the cluster file and keeps every
package: so the files given are checked together with the applied configuration they
will join, and a change that breaks an untouched package is caught too.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from cluster.config.build import build_cluster, build_package
from cluster.config.documents import cluster_document, package_document
from cluster.config.files import FileChecker, check_needed_files, needed_files
from cluster.config.model import Cluster, Config, Package
from cluster.config.networks import NetworkChecker, check_node_networks
from cluster.config.problems import ConfigError, Problem, Problems, display_order
from cluster.config.source import PackageSource, Source
from cluster.config.validate import validate
from cluster.config.validate_cluster import validate_cluster
from cluster.hostfiles import MAX_CONFIG_FILE

MAX_CHECK_LINES = 1_000_000  # all files of one check together (comments included)


@dataclass(frozen=True)
class CheckResult:
    """Every problem found, errors first; the checked configuration when there is none."""

    problems: tuple[Problem, ...]
    config: Config | None

    @property
    def ok(self) -> bool:
        return self.config is not None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.warning)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.warning)

    def raise_if_errors(self) -> Config:
        if self.config is None:
            raise ConfigError(self.problems)
        return self.config


def check_config(
    cluster: Source | None,
    packages: Sequence[PackageSource] = (),
    file_checker: FileChecker | None = None,
    applied: Config | None = None,
    deleted_packages: Sequence[str] = (),
    *,
    network_checker: NetworkChecker | None = None,
) -> CheckResult:
    """Parse, validate and (with checkers) look for the scripts on the nodes and, when
    a cluster file is given, for its interfaces and addresses.

    `cluster` None keeps the applied cluster file; `deleted_packages` are left out of
    the result (cmdeleteconf -p). Nothing is compiled or written.
    """
    problems = Problems()
    if _too_large(cluster, packages, problems):
        return _result(problems, None)
    parsed_cluster = _cluster(cluster, applied, problems)
    parsed = [_package(source, problems) for source in packages]
    if parsed_cluster is None:
        return _result(problems, None)
    by_name: dict[str, Package] = {} if applied is None else {p.name: p for p in applied.packages}
    for name in deleted_packages:
        if by_name.pop(name, None) is None:
            problems.error("", 0, f"package {name} is not configured")
    given = [p for p in parsed if p is not None]
    for package in given:
        by_name.pop(package.name, None)  # replaced; two given files of one name are both kept
    config = Config(
        parsed_cluster, tuple(sorted([*by_name.values(), *given], key=lambda p: p.name))
    )
    validate(config, problems)
    if file_checker is not None and not problems.has_errors():
        check_needed_files(needed_files(config), file_checker, problems)
    if network_checker is not None and cluster is not None and not problems.has_errors():
        check_node_networks(parsed_cluster, network_checker, problems)
    if any(p is None for p in parsed):
        return _result(problems, None)
    return _result(problems, config)


def check_files(
    cluster_text: Source | None,
    package_texts: Sequence[PackageSource],
    file_checker: FileChecker,
    applied: Config | None = None,
) -> list[Problem]:
    """The problems of the given files (the entry point of cmcheckconf)."""
    return list(check_config(cluster_text, package_texts, file_checker, applied).problems)


def load_cluster(source: Source) -> Cluster:
    """A cluster file on its own, checked; raises ConfigError."""
    problems = Problems()
    document = cluster_document(source, problems)
    problems.raise_if_errors()
    cluster = build_cluster(document)
    validate_cluster(cluster, problems)
    problems.raise_if_errors()
    return cluster


def load_package(source: PackageSource) -> Package:
    """A package file (or legacy pair) on its own, parsed; raises ConfigError.

    Checks against the cluster (node names, subnets...) need check_config.
    """
    problems = Problems()
    document = package_document(source, problems)
    problems.raise_if_errors()
    return build_package(document)


def _cluster(source: Source | None, applied: Config | None, problems: Problems) -> Cluster | None:
    if source is None:
        if applied is None:
            problems.error("", 0, "no cluster configuration: give the cluster file (-C)")
            return None
        return applied.cluster
    before = problems.error_count
    document = cluster_document(source, problems)
    if problems.error_count > before:
        return None
    return build_cluster(document)


def _package(source: PackageSource, problems: Problems) -> Package | None:
    before = problems.error_count
    document = package_document(source, problems)
    if problems.error_count > before:
        return None
    return build_package(document)


def _too_large(
    cluster: Source | None, packages: Sequence[PackageSource], problems: Problems
) -> bool:
    """Texts cmcld would spend many seconds on are refused before parsing: a check
    runs in a thread of cmcld that SIGTERM cannot interrupt. The limits are far above
    any real configuration (300 modular packages are about 20,000 lines; 300 legacy
    control scripts, comments included, about 300,000)."""
    texts: list[Source | PackageSource] = [cluster] if cluster is not None else []
    for package in packages:
        texts += [package] if package.control is None else [package, package.control]
    lines = 0
    for source in texts:
        if len(source.text) > MAX_CONFIG_FILE:
            problems.error(
                source.path, 0, f"larger than the {MAX_CONFIG_FILE >> 20} MiB a file may have"
            )
        lines += source.text.count("\n") + 1
    if lines > MAX_CHECK_LINES:
        problems.error(
            "", 0, f"{lines} lines: more than the {MAX_CHECK_LINES} one check reads (all files)"
        )
    return problems.has_errors()


def _result(problems: Problems, config: Config | None) -> CheckResult:
    ordered = tuple(sorted(problems, key=display_order))
    return CheckResult(ordered, None if problems.has_errors() else config)
