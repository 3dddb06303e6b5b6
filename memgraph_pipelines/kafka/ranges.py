"""Exact, immutable offset ranges of a topic, the batch keys that name them, and the planning
that turns a backlog into bounded batches. Plain module: generic over topics, no I/O.

A batch names, per Kafka partition, the half-open offset range ``[start, end)``. Its key is its
whole definition, so a batch can always be re-read exactly, whatever the environment says now:

    stream batch:    ``llm-telemetry-events:0=0-5000,3=120-900``
    backfill batch:  ``backfill:llm-telemetry-events:0=0-5000``
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

BACKFILL_PREFIX = "backfill:"


@dataclass(frozen=True, slots=True, order=True)
class PartitionRange:
    partition: int
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.partition < 0 or self.start < 0 or self.end <= self.start:
            raise ValueError(f"invalid offset range p{self.partition} [{self.start}, {self.end})")

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class BatchSpec:
    topic: str
    ranges: tuple[PartitionRange, ...]
    backfill: bool = False

    def __post_init__(self) -> None:
        partitions = [r.partition for r in self.ranges]
        if not self.ranges or len(set(partitions)) != len(partitions):
            raise ValueError("a batch has one range per partition, and at least one")
        if ":" in self.topic or not self.topic:
            raise ValueError(f"invalid topic name {self.topic!r}")

    @property
    def size(self) -> int:
        return sum(r.size for r in self.ranges)

    @property
    def key(self) -> str:
        body = ",".join(f"{r.partition}={r.start}-{r.end}" for r in sorted(self.ranges))
        return f"{BACKFILL_PREFIX if self.backfill else ''}{self.topic}:{body}"

    @classmethod
    def from_key(cls, key: str) -> BatchSpec:
        backfill = key.startswith(BACKFILL_PREFIX)
        rest = key[len(BACKFILL_PREFIX) :] if backfill else key
        topic, sep, body = rest.rpartition(":")
        if not sep:
            raise ValueError(f"not a batch key: {key!r}")
        ranges = []
        for part in body.split(","):
            partition, _, span = part.partition("=")
            start, _, end = span.partition("-")
            ranges.append(PartitionRange(int(partition), int(start), int(end)))
        return cls(topic, tuple(sorted(ranges)), backfill)


def parse_keys(keys: Iterable[str], topic: str) -> list[BatchSpec]:
    """The batches of ``topic`` among ``keys``; keys that are not batch keys are ignored."""
    specs = []
    for key in keys:
        try:
            spec = BatchSpec.from_key(key)
        except ValueError:
            continue
        if spec.topic == topic:
            specs.append(spec)
    return specs


def stream_frontier(specs: Iterable[BatchSpec]) -> dict[int, int]:
    """Next start per partition after the stream batches already planned (backfills excluded)."""
    frontier: dict[int, int] = {}
    for spec in specs:
        if spec.backfill:
            continue
        for r in spec.ranges:
            frontier[r.partition] = max(frontier.get(r.partition, 0), r.end)
    return frontier


def _share_out(pending: Mapping[int, int], cap: int) -> dict[int, int]:
    """Split ``cap`` records over partitions as evenly as their backlogs allow, so that a batch
    advances every partition together (late links then meet sooner)."""
    take = dict.fromkeys(pending, 0)
    remaining = cap
    active = sorted(p for p, n in pending.items() if n > 0)
    while remaining > 0 and active:
        share = max(1, remaining // len(active))
        still_active = []
        for p in active:
            n = min(share, pending[p] - take[p], remaining)
            take[p] += n
            remaining -= n
            if pending[p] > take[p]:
                still_active.append(p)
            if remaining == 0:
                break
        active = still_active
    return {p: n for p, n in take.items() if n > 0}


@dataclass(frozen=True, slots=True)
class BatchPlan:
    batches: list[BatchSpec]
    #: Next start per partition once these batches exist (the sensor's cursor).
    next_start: dict[int, int]
    #: Records still waiting after this plan.
    backlog: int


def plan_batches(
    topic: str,
    next_start: Mapping[int, int],
    high_watermarks: Mapping[int, int],
    *,
    max_records: int,
    max_batches: int,
    overdue: bool,
) -> BatchPlan:
    """Cut the records between ``next_start`` and the high watermarks into batches.

    Full batches of ``max_records`` are cut whenever the backlog allows; a final, smaller batch
    only when ``overdue`` (its oldest record has waited long enough). At most ``max_batches``
    are planned, so a big backlog becomes several bounded runs over several ticks. Ranges never
    overlap and never skip: each batch starts exactly where the previous one ended.
    """
    if max_records <= 0 or max_batches <= 0:
        raise ValueError("max_records and max_batches must be positive")
    cursor = {p: next_start.get(p, 0) for p in high_watermarks}
    pending = {p: max(0, high - cursor[p]) for p, high in high_watermarks.items()}
    batches: list[BatchSpec] = []
    while len(batches) < max_batches:
        total = sum(pending.values())
        if total == 0 or (total < max_records and not overdue):
            break
        take = _share_out(pending, max_records)
        ranges = tuple(PartitionRange(p, cursor[p], cursor[p] + n) for p, n in sorted(take.items()))
        batches.append(BatchSpec(topic, ranges))
        for p, n in take.items():
            cursor[p] += n
            pending[p] -= n
    merged = {**next_start, **cursor}
    return BatchPlan(batches, merged, sum(pending.values()))


def split_ranges(
    topic: str, ranges: Mapping[int, tuple[int, int]], *, max_records: int, backfill: bool
) -> list[BatchSpec]:
    """Cut explicit per-partition ``(start, end)`` ranges into batches of at most max_records."""
    cursor = {p: s for p, (s, e) in ranges.items() if e > s}
    pending = {p: ranges[p][1] - s for p, s in cursor.items()}
    batches = []
    while sum(pending.values()) > 0:
        take = _share_out(pending, max_records)
        spans = tuple(PartitionRange(p, cursor[p], cursor[p] + n) for p, n in sorted(take.items()))
        batches.append(BatchSpec(topic, spans, backfill))
        for p, n in take.items():
            cursor[p] += n
            pending[p] -= n
    return batches


def committable_offsets(base: Mapping[int, int], loaded: Iterable[BatchSpec]) -> dict[int, int]:
    """Offsets safe to commit: per partition, from ``base`` (the committed offset, else the low
    watermark) forward through loaded ranges that leave no hole. A batch that finished out of
    order waits until the batches before it are loaded, so the group's lag stays true."""
    by_partition: dict[int, list[tuple[int, int]]] = {}
    for spec in loaded:
        for r in spec.ranges:
            by_partition.setdefault(r.partition, []).append((r.start, r.end))
    result = {}
    for partition, spans in by_partition.items():
        offset = base.get(partition, 0)
        for start, end in sorted(spans):
            if start > offset:
                break
            offset = max(offset, end)
        result[partition] = offset
    return result
