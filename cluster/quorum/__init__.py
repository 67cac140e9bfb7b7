"""cmqsd: the quorum server, a tie-breaking Paxos acceptor for one or more clusters."""
