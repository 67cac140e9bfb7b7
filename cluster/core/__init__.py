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

Placement (DESIGN.md section 3), on the coordinator only: build a `policy_model.Snapshot`
(epoch, members, coordinator, configured nodes, one `PackageSpec` per configured
package, one `PackageState` per package from the members' reports and the switching
flags, the released non-members, the halting members, the pending cmrunpkg/cmhaltpkg)
and call `policy.decide(snapshot)` after every membership change, package report, flag
change, request, and when a `TakeoverAllowed` comes due. Perform the `Decision` as its
docstring says; every `Action` carries the epoch, and a node refuses an action whose
epoch is not its current one.
"""
