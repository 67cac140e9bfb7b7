"""cmviewconf: show the applied configuration: generation, digest, cluster, packages."""

import datetime as dt

from cluster.cli.args import CmArgumentParser, add_connection_options


def main(argv: list[str], prog: str = "cmviewconf") -> int:
    parser = CmArgumentParser(prog=prog, description="Show the applied configuration.")
    add_connection_options(parser)
    args = parser.parse_args(argv)

    from cluster.cli.connect import admin_client
    from cluster.config.compile import decode_config
    from cluster.config.render import render_cluster, render_package

    with admin_client(args) as client:
        blob = client.get_config()
    if blob is None:
        print("No configuration is applied on this node.")
        return 0
    when = dt.datetime.fromtimestamp(blob.applied_at_unix_ms / 1000, dt.UTC)
    print(f"Configuration generation: {blob.generation}")
    print(f"Digest (SHA-256):         {blob.digest.hex()}")
    print(
        f"Applied by:               {blob.applied_by or 'unknown'} at {when:%Y-%m-%d %H:%M:%S} UTC"
    )
    if not blob.config:
        print("The configuration was deleted (cmdeleteconf).")
        return 0
    config = decode_config(blob)
    print(f"Packages:                 {len(config.packages)}")
    if config.cluster_id:
        print(f"Cluster id:               {config.cluster_id}")
    if config.revocation_list:
        from cluster.security.crl import summary

        for line in summary(config.revocation_list):
            print(f"Revoked certificates:     {line}")
    print()
    print(render_cluster(config.cluster, comments=False), end="")
    for package in config.packages:
        print()
        print(render_package(package, comments=False), end="")
    return 0
