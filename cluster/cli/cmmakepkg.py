"""cmmakepkg: write a commented package configuration template, as Serviceguard's does.

  cmmakepkg [-m MODULE ...] [-f] [FILE]
  cmmakepkg -l

Modules choose the sections (sg/failover or sg/multi_node as the base, then
sg/service, sg/filesystem, sg/package_ip, ...; no -m means sg/all). Without FILE the
template goes to standard output. An existing FILE is kept unless -f is given.
"""

import sys
from pathlib import Path

from cluster.cli.args import CmArgumentParser
from cluster.errors import UsageError


def main(argv: list[str], prog: str = "cmmakepkg") -> int:
    parser = CmArgumentParser(
        prog=prog,
        description="Write a commented package configuration template.",
        epilog="Fill it in, then: cmcheckconf -P FILE; cmapplyconf -P FILE.",
    )
    parser.add_argument(
        "-m",
        dest="modules",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module to include, e.g. sg/service (repeat; default sg/all)",
    )
    parser.add_argument("-l", "--list", action="store_true", help="list the modules and exit")
    parser.add_argument("-f", "--force", action="store_true", help="replace an existing FILE")
    parser.add_argument("file", nargs="?", metavar="FILE", help="where to write (default: stdout)")
    args = parser.parse_args(argv)

    from cluster.config.templates import MODULES, package_template

    if args.list:
        width = max(len(m) for m in MODULES) + 3
        for name, summary in MODULES.items():
            print(f"{'sg/' + name:<{width}}  {summary}")
        return 0
    try:
        text = package_template(args.modules)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.file in (None, "-"):
        sys.stdout.write(text)
        return 0
    path = Path(args.file)
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists: use -f to replace it")
    from cluster.atomicfile import save_file

    save_file(path, text.encode(), 0o644)
    print(f"wrote package template {path}", file=sys.stderr)
    return 0
