"""A command's connection to cmcld, from its parsed connection options."""

import argparse

from cluster.paths import HostPaths
from cluster.transport.client import AdminClient, command_endpoint


def admin_client(args: argparse.Namespace, timeout: float = 30.0) -> AdminClient:
    endpoint = command_endpoint(
        HostPaths.from_env(), cert=args.cert, key=args.key, ca=args.ca, server=args.server
    )
    return AdminClient(endpoint, timeout=timeout)
