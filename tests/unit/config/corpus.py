"""Loading the test corpus: a case is a cluster file with package files, or one file.

A package file `NAME.conf` with a sibling `NAME.cntl` is a legacy pair. A broken case
states what it expects in comment lines:

    # expect: [FILE:]LINE: MESSAGE            an error (exactly these errors, no others)
    # expect-warning: [FILE:]LINE: MESSAGE    a warning that must be among the warnings
"""

import re
from dataclasses import dataclass
from pathlib import Path

from cluster.config.check import CheckResult, check_config
from cluster.config.source import PackageSource, Source, read_package_source, read_source

DATA = Path(__file__).resolve().parents[2] / "data" / "config"
EXPECT_RE = re.compile(
    r"^#\s*expect(?P<warning>-warning)?:\s*(?:(?P<file>[^:\s]+):)?(?P<line>\d+):\s(?P<message>.*)$"
)


@dataclass(frozen=True)
class Case:
    name: str
    cluster: Source | None
    packages: tuple[PackageSource, ...]
    files: tuple[Path, ...]

    def check(self) -> CheckResult:
        return check_config(self.cluster, self.packages)


def package_source(conf: Path) -> PackageSource:
    control = conf.with_suffix(".cntl")
    return read_package_source(conf, control if control.exists() else None)


def load_directory(directory: Path, base_cluster: Path | None = None) -> Case:
    cluster_file = directory / "cluster.ascii"
    cluster_path = cluster_file if cluster_file.exists() else base_cluster
    confs = sorted(directory.glob("*.conf"))
    files = [p for p in (cluster_path, *confs) if p is not None]
    files += [c.with_suffix(".cntl") for c in confs if c.with_suffix(".cntl").exists()]
    return Case(
        directory.name,
        read_source(cluster_path) if cluster_path else None,
        tuple(package_source(c) for c in confs),
        tuple(files),
    )


def load_file(path: Path, base_cluster: Path) -> Case:
    if path.suffix == ".ascii":
        return Case(path.stem, read_source(path), (), (path,))
    files = (path, *([path.with_suffix(".cntl")] if path.with_suffix(".cntl").exists() else []))
    return Case(path.stem, read_source(base_cluster), (package_source(path),), files)


def valid_cases() -> list[Case]:
    return [load_directory(d) for d in sorted((DATA / "valid").iterdir()) if d.is_dir()]


def broken_cases() -> list[Case]:
    root = DATA / "broken"
    base = root / "base-cluster.ascii"
    cases = []
    for path in sorted(root.iterdir()):
        if path.is_dir():
            cases.append(load_directory(path, base))
        elif path.suffix in (".ascii", ".conf") and path != base:
            cases.append(load_file(path, base))
    return cases


def expectations(case: Case) -> tuple[set[str], set[str]]:
    """(errors, warnings) the case's files announce, as `file:line: message`."""
    errors: set[str] = set()
    warnings: set[str] = set()
    for path in case.files:
        for raw in path.read_text().splitlines():
            match = EXPECT_RE.match(raw.strip())
            if not match:
                continue
            name = match["file"] or path.name
            text = f"{name}:{match['line']}: {match['message']}"
            (warnings if match["warning"] else errors).add(text)
    return errors, warnings


def short(problem_path: str, line: int, message: str) -> str:
    """`file:line: message` with the corpus's directories left out (also in the message)."""
    for directory in sorted({str(p.parent) for p in DATA.rglob("*")}, key=len, reverse=True):
        message = message.replace(directory + "/", "")
    return f"{Path(problem_path).name}:{line}: {message}"
