"""cmcluster: a high-availability cluster manager in the line of MC/ServiceGuard.

`core/` decides, everything else does: see DESIGN.md for the layout.
"""
