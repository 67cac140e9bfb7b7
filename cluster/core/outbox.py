"""Effects on their way out, holding back those that must wait for a persist."""

from cluster.core.effects import Durable, Effect, Persist, QuorumDurable, Send
from cluster.core.messages import Message


class Outbox:
    """Collects one call's effects; effects that reveal state not yet durable wait.

    `persist` emits a Persist with the next seq; `after_persist` effects queued while a
    persist is in flight are released, in order, by the `Persisted` report covering the
    newest persist at the time they were queued. A Send addressed to `me` (a proposer's
    own promise, for instance) is not emitted but queued in `local` for the owner to
    deliver to itself, with the same wait.
    """

    def __init__(self, me: str) -> None:
        self.me = me
        self.effects: list[Effect] = []
        self.local: list[Message] = []
        self._seq = 0
        self._durable_seq = 0
        self._held: list[tuple[int, Effect]] = []

    def emit(self, effect: Effect) -> None:
        if isinstance(effect, Send) and effect.to == self.me:
            self.local.append(effect.message)
        else:
            self.effects.append(effect)

    def persist(self, state: Durable | QuorumDurable) -> None:
        self._seq += 1
        self.effects.append(Persist(self._seq, state))

    @property
    def last_seq(self) -> int:
        """The seq of the newest persist emitted."""
        return self._seq

    def in_flight(self) -> bool:
        return self._durable_seq < self._seq

    def after_persist(self, effect: Effect) -> None:
        if self.in_flight():
            self._held.append((self._seq, effect))
        else:
            self.emit(effect)

    def persisted(self, seq: int) -> None:
        """Persists up to `seq` are durable: let out what waited for them."""
        self._durable_seq = max(self._durable_seq, min(seq, self._seq))
        held, self._held = self._held, []
        for s, effect in held:
            if s <= self._durable_seq:
                self.emit(effect)
            else:
                self._held.append((s, effect))

    def take(self) -> list[Effect]:
        out, self.effects = self.effects, []
        return out
