"""OS resource drivers of packages (one module per kind) and the stop-now path.

Nothing here is imported by this `__init__`: the guard imports `stopnow` and `procs`
alone and must not pay for asyncio or the drivers.
"""
