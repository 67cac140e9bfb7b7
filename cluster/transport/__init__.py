"""The only importer of grpc: channels, servers, servicers and the authorization check.

Everything above this layer speaks model objects and exceptions from cluster.errors.
"""
