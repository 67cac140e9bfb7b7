"""The lease guard: a small process, separate from cmcld, that performs the stop-now
plan on its own when cmcld stops renewing the lease deadline (DESIGN.md §2).

`protocol` is what both sides share (files, commands, status), `main` is the guard
process (`cmguard`, started by cmcld, never by hand), `client` is cmcld's side.
"""
