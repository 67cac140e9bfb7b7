"""cmcld, the node daemon: the one place that wires the core to gRPC, clocks and the OS."""
