"""Network interfaces of this host: discovery, and (later) link monitoring and local
LAN failover."""
