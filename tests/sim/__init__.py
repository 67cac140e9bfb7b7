"""Deterministic simulation of many cmcld membership cores and a quorum server.

Everything here is a second driver of `cluster.core` (the daemon is the first): fake
clocks with rates differing within rho, a hostile network, crashes that lose unflushed
state, paused processes, and invariants checked as the simulation runs. A run is a
pure function of its seed.
"""
