"""`cmcluster.pyz install --prefix DIR`: put the zipapp and every cm* link in DIR/bin,
and the example alert scripts (packaging/alerts) in DIR/share/cmcluster/alerts.

The links are symlinks: a copied zipapp would be unpacked again (about 22 MB) for each
name. The zipapp unpacks itself on first run; install runs it once so that happens now,
into DIR/lib/cmcluster, readable by every user and writable by the installer only: the
zipapp's __main__ (packaging/zipapp_main.py) uses it from then on, so no user needs a
writable HOME, or 22 MB of their own, to run a command.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from cluster.atomicfile import save_file
from cluster.cli.args import CmArgumentParser
from cluster.cli.main import COMMANDS
from cluster.errors import CmError, UsageError

BINARY = "cmcluster"
ALERTS = "cmcluster_alerts/"  # where the build put the example alert scripts


def running_zipapp() -> Path:
    path = Path(sys.argv[0]).resolve()
    if not zipfile.is_zipfile(path):
        raise UsageError(
            "install works from the built zipapp: dist/cmcluster.pyz install --prefix DIR"
        )
    return path


def main(argv: list[str], prog: str = "install") -> int:
    parser = CmArgumentParser(
        prog="cmcluster.pyz install",
        description="Copy this zipapp to PREFIX/bin/cmcluster and link every cm* command to it.",
    )
    parser.add_argument("--prefix", type=Path, required=True, metavar="DIR")
    parser.add_argument(
        "--force", action="store_true", help="replace files in the way of the links"
    )
    args = parser.parse_args(argv)
    source = running_zipapp()
    bindir: Path = args.prefix / "bin"
    target = bindir / BINARY
    unpacked = args.prefix / "lib" / "cmcluster"
    for directory in (bindir, unpacked):
        _public_dir(directory)
    unpacked.chmod(0o755)  # ours: every user reads it, only the installer writes it
    if source != target.resolve():
        save_file(target, source.read_bytes(), 0o755)
    for name in sorted(COMMANDS):
        _link(bindir / name, args.force)
    examples = _alert_examples(source, args.prefix / "share" / "cmcluster" / "alerts", args.force)
    try:
        subprocess.run(
            [str(target), "--version"],
            check=True,
            capture_output=True,
            timeout=120,
            env=dict(os.environ, SHIV_ROOT=str(unpacked)),
            umask=0o022,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CmError(f"installed {target}, but it does not run: {exc}") from None
    print(f"installed {target} and {len(COMMANDS)} commands: {', '.join(sorted(COMMANDS))}")
    if examples:
        print(
            f"example alert scripts in {examples[0].parent}: {', '.join(p.name for p in examples)}"
        )
    return 0


def _alert_examples(zipapp: Path, directory: Path, force: bool) -> list[Path]:
    """Write out the example alert scripts; one already there (perhaps edited) is kept
    unless --force."""
    with zipfile.ZipFile(zipapp) as archive:
        names = [n for n in archive.namelist() if n.startswith(ALERTS) and n != ALERTS]
        if not names:
            return []
        _public_dir(directory)
        written = []
        for name in sorted(names):
            path = directory / name[len(ALERTS) :]
            if path.exists() and not force:
                continue
            save_file(path, archive.read(name), 0o755)
            written.append(path)
    return written


def _public_dir(path: Path) -> None:
    """Create `path` and its missing parents 0755 whatever the umask: every user runs
    the commands (a fresh PREFIX/bin was 0700), only the installer changes them."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        for directory in reversed(missing):
            directory.mkdir()
            directory.chmod(0o755)
    except OSError as exc:
        raise UsageError(f"{exc.filename or path}: cannot create: {exc.strerror}") from None


def _link(link: Path, force: bool) -> None:
    if link.is_symlink() or (force and link.exists()):
        link.unlink()
    elif link.exists():
        raise UsageError(f"{link} exists and is not a link; --force replaces it")
    try:
        os.symlink(BINARY, link)
    except OSError as exc:
        raise UsageError(f"{link}: cannot create link: {exc.strerror}") from None
