"""cmgetconf: write the applied configuration back as ASCII.

  cmgetconf [-c CLUSTER] [-p PKG] [FILE]

Without -p, the cluster file; with -p, that package's file. Without FILE, to standard
output. What is written parses back to the same configuration.
"""

import sys
from pathlib import Path

from cluster.cli.args import PACKAGE_NAME, CmArgumentParser, add_connection_options
from cluster.errors import CmError


def main(argv: list[str], prog: str = "cmgetconf") -> int:
    parser = CmArgumentParser(prog=prog, description="Write the applied configuration as ASCII.")
    parser.add_argument(
        "-c", dest="cluster", metavar="CLUSTER", help="the cluster's name (checked)"
    )
    parser.add_argument(
        "-p",
        dest="package",
        type=PACKAGE_NAME,
        metavar="PKG",
        help="a package instead of the cluster",
    )
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE", help="output file")
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.atomicfile import save_file
    from cluster.cli.connect import admin_client
    from cluster.config.compile import decode_config
    from cluster.config.render import render_cluster, render_package

    with admin_client(args) as client:
        blob = client.get_config()
    if blob is None or not blob.config:
        raise CmError("no configuration is applied (cmapplyconf first)")
    config = decode_config(blob)
    if args.cluster and args.cluster != config.cluster.name:
        raise CmError(f"this node belongs to cluster {config.cluster.name}, not {args.cluster}")
    header = [
        f"Written by cmgetconf from configuration generation {blob.generation}"
        + (f", applied by {blob.applied_by}" if blob.applied_by else ""),
    ]
    if args.package:
        package = config.package(args.package)
        if package is None:
            raise CmError(f"no package {args.package!r} in cluster {config.cluster.name}")
        text = render_package(package, header=header)
    else:
        text = render_cluster(config.cluster, header=header)
    if args.file is None:
        sys.stdout.write(text)
    else:
        save_file(args.file, text.encode(), 0o644)
    return 0
