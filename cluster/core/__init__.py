"""The sans-IO core: pure state machines and data, no sockets, clocks or subprocesses.

Events in, effects out: the daemon and the simulator drive the same code.

Membership (DESIGN.md section 2), for the daemon:

- `node.MemberNode(name, spec, timing, rng, now=..., durable=..., auto_start=...)` at
  boot, with the `effects.Durable` last persisted (None on a fresh node) and a
  `random.Random` of its own; then `start()`, then `handle(event)` for every event:
  `Received(now, sender, message)` (sender = the peer's certificate name, or
  `messages.QUORUM_SERVER`), `Tick(now)` when the last `WakeAt` comes due,
  `Persisted(now, seq)` once a `Persist` is durable, `Operator(now, command)` for
  cmrunnode / cmhaltnode / cmruncl / cmhaltcl. `now` is the local monotonic clock, ns.
- Perform the returned effects in order (see `effects` for the one ordering rule):
  `Send`, `WakeAt`, `Persist` (write `state` atomically and fsync before reporting),
  `LeaseGained` / `LeaseChanged` / `LeaseLost` (hand the deadline to the guard at once;
  LeaseLost means stop every package now), `MembershipDecided`, `TakeoverAllowed`
  (coordinator only: that node's packages may start elsewhere from local time `at`),
  `CommandDone`, `Note` (one sentence for the log).
- `quorum.QuorumServer` is the same for cmqsd, one instance serving many clusters.
"""
