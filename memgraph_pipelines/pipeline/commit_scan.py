"""How far back a load must look for loaded batches when it commits offsets. Plain module.

A load commits, per partition, the contiguous prefix of loaded ranges (``commit_loaded``), so it
needs every loaded batch that the committed offsets do not cover yet: one loaded out of order,
after a hole. Reading every batch ever loaded would grow with the deployment's history (about
20,000 keys took 0.85 s to fetch and parse, on every load). Instead each load records a
``CommitScan``: the storage id through which every loaded batch was covered, and the offsets
that covered them. The next load reads only the materializations after that id, if the
committed offsets have not moved back since (a rewound group gets a full scan: the batches
loaded before the rewind may fill its hole again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from memgraph_pipelines.kafka.ranges import BatchSpec

#: Storage ids start at 1: "after -1" is the whole history.
WHOLE_HISTORY = -1


@dataclass(frozen=True, slots=True)
class CommitScan:
    topic: str
    #: Every loaded batch of ``topic`` with a storage id up to this one is covered by ``offsets``.
    after: int
    #: The committed offsets (low watermark where none) when the scan was recorded.
    offsets: dict[int, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "after_storage_id": self.after,
            "offsets": {str(p): o for p, o in sorted(self.offsets.items())},
        }

    @classmethod
    def from_json(cls, value: Any) -> CommitScan | None:
        """The scan a load recorded, or None if ``value`` is not one (an older load's metadata)."""
        if not isinstance(value, dict):
            return None
        try:
            offsets = {int(p): int(o) for p, o in value["offsets"].items()}
            return cls(str(value["topic"]), int(value["after_storage_id"]), offsets)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def holds_for(self, topic: str, base: Mapping[int, int]) -> bool:
        """Still valid now that the committed offsets are ``base``: same topic, and no offset
        has moved back below what covered the batches before ``after``."""
        return topic == self.topic and all(base.get(p, 0) >= o for p, o in self.offsets.items())


def scan_start(previous: CommitScan | None, topic: str, base: Mapping[int, int]) -> int:
    """The storage id after which loaded batches must be read."""
    if previous is None or not previous.holds_for(topic, base):
        return WHOLE_HISTORY
    return previous.after


def is_covered(spec: BatchSpec, offsets: Mapping[int, int]) -> bool:
    return all(r.end <= offsets.get(r.partition, 0) for r in spec.ranges)


def next_scan(
    topic: str,
    start: int,
    loaded: Iterable[tuple[int, BatchSpec]],
    offsets: Mapping[int, int],
) -> CommitScan:
    """The scan to record once ``offsets`` are committed: from ``start``, through every loaded
    batch (storage id, spec) read after it, in storage order, up to the first one not covered."""
    after = start
    for storage_id, spec in sorted(loaded, key=lambda item: item[0]):
        if not is_covered(spec, offsets):
            break
        after = storage_id
    return CommitScan(topic, after, dict(offsets))
