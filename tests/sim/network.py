"""The simulated network: delays, loss, duplication, reordering and partitions."""

from random import Random

MS = 1_000_000


class Network:
    """Decides the fate of each message at the moment it is sent.

    Links are directed, so a cut can be one-way (asymmetric) and a set of cuts need not
    be transitive (a-b and b-c up, a-c down). Delays are drawn per copy, so messages
    reorder; a small share are late by up to `spike_max`.
    """

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.min_delay = MS // 10
        self.max_delay = 2 * MS
        self.spike_p = 0.01
        self.spike_max = 30 * MS
        self.loss = 0.0  # on every link
        self.dup = 0.0
        self.cut: set[tuple[str, str]] = set()
        self.lossy: dict[tuple[str, str], float] = {}
        self.drop_kinds: set[str] = set()  # message class names lost on every link

    def heal(self) -> None:
        self.cut.clear()
        self.lossy.clear()
        self.drop_kinds.clear()
        self.loss = 0.0
        self.dup = 0.0
        self.spike_p = 0.01

    def partition(self, groups: list[set[str]], everyone: set[str]) -> None:
        """Cut every link between different groups; nodes in no group reach all."""
        where = {n: i for i, g in enumerate(groups) for n in g}
        for a in everyone:
            for b in everyone:
                if a != b and a in where and b in where and where[a] != where[b]:
                    self.cut.add((a, b))

    def delays(self, src: str, dst: str, kind: str = "") -> list[int]:
        """Delivery delays of the copies of one message (empty: dropped)."""
        if (src, dst) in self.cut or (self.drop_kinds and kind in self.drop_kinds):
            return []
        rnd = self.rng.random
        loss = self.lossy.get((src, dst), self.loss) if self.lossy else self.loss
        if loss and rnd() < loss:
            return []
        copies = 2 if self.dup and rnd() < self.dup else 1
        span = self.max_delay - self.min_delay
        out = []
        for _ in range(copies):
            d = self.min_delay + int(rnd() * span)
            if rnd() < self.spike_p:
                d += int(rnd() * self.spike_max)
            out.append(d)
        return out
