"""The sans-IO core: pure state machines and data, no sockets, clocks or subprocesses.

Events in, effects out: the daemon and the simulator drive the same code.
"""
