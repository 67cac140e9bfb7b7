"""gRPC settings for an HA daemon; several library defaults are wrong for one.

Measured on these machines (NOTES.md): SO_REUSEPORT lets a second daemon silently take
half the connections; the default reconnect back-off (20 s) is also the connect
timeout; without keepalive a silently partitioned stream can go unnoticed for a minute;
the server's ping policy drops clients that ping often. Heartbeat timing itself is the
protocol's business, not gRPC keepalive's.
"""

SERVER_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_time_ms", 1000),
    ("grpc.keepalive_timeout_ms", 1000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 500),
    ("grpc.http2.max_pings_without_data", 0),
]


# A connection flood must not take the daemon's descriptors (startup.OPEN_FILES is
# far above this) nor keep unauthenticated connections: a client has this long to
# complete its TLS handshake. 64 nodes with a few heartbeat networks and their peer
# channels need a few hundred connections; the rest is room for operators.
MAX_CONNECTIONS = 8192
HANDSHAKE_TIMEOUT_MS = 5000
TCP_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_allowed_incoming_connections", MAX_CONNECTIONS),
    ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
]


def server_options(tcp: bool = True) -> list[tuple[str, int | str]]:
    """SERVER_OPTIONS, and a receive limit just above the largest request an RPC
    declares (auth.proto's max_request_kib), each RPC checking its own below it; a TCP
    server also caps its connections and handshake time."""
    from cluster.transport.auth import largest_request

    limit = ("grpc.max_receive_message_length", largest_request() + 4096)
    return [*SERVER_OPTIONS, limit, *(TCP_OPTIONS if tcp else ())]


# Between nodes: notice a dead link within about two seconds, reconnect quickly.
PEER_CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.keepalive_time_ms", 1000),
    ("grpc.keepalive_timeout_ms", 1000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 1000),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.enable_retries", 0),
    ("grpc.max_receive_message_length", 64 << 20),
]

# A command: one short conversation; fail fast rather than retry for 20 s.
COMMAND_CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 1000),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
    ("grpc.max_receive_message_length", 64 << 20),
]
