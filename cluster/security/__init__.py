"""Cluster CA, certificates, identities and roles (DESIGN.md §4).

`identity` and `pem` import nothing heavy and are safe on every command's path;
`ca` needs `cryptography` and is imported only by `cmcert` and the daemon.
"""
