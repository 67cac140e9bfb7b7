"""gRPC credential objects from cmcluster's credentials."""

from collections.abc import Callable

import grpc

from cluster.security.pem import Credentials


def server_credentials(creds: Credentials) -> grpc.ServerCredentials:
    """Mutual TLS: a client without a certificate from the cluster CA is refused."""
    return grpc.ssl_server_credentials(
        [(creds.key, creds.certificate)], root_certificates=creds.ca, require_client_auth=True
    )


def renewable_server_credentials(current: Callable[[], Credentials]) -> grpc.ServerCredentials:
    """Mutual TLS whose certificate (and trusted CAs) follow `current()`: gRPC asks
    before every handshake, so a reloaded certificate serves the next connection."""
    served = current()

    def configuration(creds: Credentials) -> "grpc.ServerCertificateConfiguration":
        return grpc.ssl_server_certificate_configuration(
            [(creds.key, creds.certificate)], root_certificates=creds.ca
        )

    def fetch() -> "grpc.ServerCertificateConfiguration | None":
        nonlocal served
        now = current()
        if now is served:
            return None
        served = now
        return configuration(now)

    # The stubs say the fetcher returns a configuration; gRPC documents None for "no
    # change", which is what keeps every handshake from rebuilding the TLS context.
    return grpc.dynamic_ssl_server_credentials(
        configuration(served),
        fetch,  # type: ignore[arg-type]
        require_client_authentication=True,
    )


def channel_credentials(creds: Credentials) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=creds.ca, private_key=creds.key, certificate_chain=creds.certificate
    )


def local_server_credentials() -> grpc.ServerCredentials:
    return grpc.local_server_credentials(grpc.LocalConnectionType.UDS)


def local_channel_credentials() -> grpc.ChannelCredentials:
    return grpc.local_channel_credentials(grpc.LocalConnectionType.UDS)
