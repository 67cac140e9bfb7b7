"""gRPC credential objects from cmcluster's credentials."""

import grpc

from cluster.security.pem import Credentials


def server_credentials(creds: Credentials) -> grpc.ServerCredentials:
    """Mutual TLS: a client without a certificate from the cluster CA is refused."""
    return grpc.ssl_server_credentials(
        [(creds.key, creds.certificate)], root_certificates=creds.ca, require_client_auth=True
    )


def channel_credentials(creds: Credentials) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=creds.ca, private_key=creds.key, certificate_chain=creds.certificate
    )


def local_server_credentials() -> grpc.ServerCredentials:
    return grpc.local_server_credentials(grpc.LocalConnectionType.UDS)


def local_channel_credentials() -> grpc.ChannelCredentials:
    return grpc.local_channel_credentials(grpc.LocalConnectionType.UDS)
