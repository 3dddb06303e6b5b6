"""Where the next batches of a topic start and end, from watermarks only (no record is
consumed), and which offsets may be committed once batches are loaded. Plain module."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from memgraph_pipelines.kafka.client import (
    KafkaConnection,
    advance_committed,
    committed_offsets,
    offsets_for_time,
    watermarks,
)
from memgraph_pipelines.kafka.ranges import (
    BatchPlan,
    BatchSpec,
    committable_offsets,
    parse_keys,
    plan_batches,
    split_ranges,
    stream_frontier,
)


def plan_next_batches(
    connection: KafkaConnection,
    topic: str,
    group_id: str,
    *,
    registered_keys: Iterable[str],
    cursor: Mapping[int, int],
    max_records: int,
    max_wait_ms: int,
    max_batches: int,
    now_ms: int,
) -> BatchPlan:
    """The batches to emit now. A partition's next start is the furthest of: the cursor, the end
    of the batches already registered, the group's committed offset and the low watermark, so
    two planners (the sensor and `catch-up`) never plan the same records twice."""
    admin = connection.admin()
    low, high = watermarks(admin, topic)
    frontier = stream_frontier(parse_keys(registered_keys, topic))
    committed = committed_offsets(connection, group_id, topic) if not frontier else {}
    start = {
        p: max(cursor.get(p, 0), frontier.get(p, 0), committed.get(p, 0), low.get(p, 0))
        for p in high
    }
    overdue = False
    if any(high[p] > start[p] for p in high):
        waited = offsets_for_time(admin, topic, now_ms - max_wait_ms)
        # Records before `waited` are older than max_wait: any of them pending makes it overdue.
        overdue = any(start[p] < min(waited.get(p, high[p]), high[p]) for p in high)
    return plan_batches(
        topic, start, high, max_records=max_records, max_batches=max_batches, overdue=overdue
    )


def plan_time_window(
    connection: KafkaConnection, topic: str, *, start_ms: int, end_ms: int, max_records: int
) -> list[BatchSpec]:
    """Backfill batches covering the records whose timestamps fall in [start_ms, end_ms)."""
    admin = connection.admin()
    first = offsets_for_time(admin, topic, start_ms)
    last = offsets_for_time(admin, topic, end_ms)
    ranges = {p: (first[p], last.get(p, first[p])) for p in first}
    return split_ranges(topic, ranges, max_records=max_records, backfill=True)


@dataclass(frozen=True, slots=True)
class CommitResult:
    #: What this commit moved forward.
    moved: dict[int, int]
    #: The group's committed offsets after it (the low watermark where it has none).
    offsets: dict[int, int]


def commit_loaded(
    connection: KafkaConnection,
    group_id: str,
    topic: str,
    loaded: Callable[[dict[int, int]], Iterable[BatchSpec]],
) -> CommitResult:
    """Commit, for the group, the contiguous prefix of loaded ranges. ``loaded(base)`` gives the
    loaded batches to consider, told the committed offsets (low watermark where none) that
    they will extend: a caller can skip the batches those already cover."""
    low, _ = watermarks(connection.admin(), topic)
    before: dict[int, int] = {}

    def target(committed: dict[int, int]) -> dict[int, int]:
        before.update({**low, **committed})
        mine = [s for s in loaded(dict(before)) if s.topic == topic]
        return committable_offsets(before, mine)

    moved = advance_committed(connection, group_id, topic, target)
    return CommitResult(moved, {**before, **moved})
