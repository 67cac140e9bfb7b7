"""Small real programs for packages in the lab, each runnable as `python3 FILE ARGS`
with the standard library only: a TCP service, a writer, and a client probe."""
