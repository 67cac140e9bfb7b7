"""Packages on this node: building their resources from the configuration, running
their start and halt sequences, supervising them."""
