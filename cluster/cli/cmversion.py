"""cmversion: print the version of cmcluster (and with -v, of what it runs on)."""

import platform

from cluster.cli.args import CmArgumentParser
from cluster.version import __version__


def main(argv: list[str], prog: str = "cmversion") -> int:
    parser = CmArgumentParser(prog=prog, description="Print the cmcluster version.")
    parser.add_argument("-v", "--verbose", action="store_true", help="also library versions")
    args = parser.parse_args(argv)
    print(__version__)
    if args.verbose:
        from importlib.metadata import PackageNotFoundError, version

        print(f"python {platform.python_version()} ({platform.python_implementation()})")
        for dist in ("grpcio", "protobuf", "cryptography"):
            try:
                print(f"{dist} {version(dist)}")
            except PackageNotFoundError:
                print(f"{dist} (not found)")
    return 0
