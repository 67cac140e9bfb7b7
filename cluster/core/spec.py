"""The part of the cluster configuration the membership protocol needs."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterSpec:
    """Configured nodes (sorted names: lower names are the "lower node ids" of the
    value rule), whether a quorum server is configured, and the config generation."""

    name: str
    nodes: tuple[str, ...]
    quorum_server: bool = False
    generation: int = 1

    def __post_init__(self) -> None:
        if tuple(sorted(set(self.nodes))) != self.nodes:
            raise ValueError(f"cluster {self.name}: nodes must be sorted and distinct")
        if not self.nodes:
            raise ValueError(f"cluster {self.name}: no nodes configured")
