"""Offset ranges, batch keys, batch planning and committable offsets (no servers)."""

from __future__ import annotations

import itertools
import random

import pytest

from memgraph_pipelines.kafka.ranges import (
    BatchSpec,
    PartitionRange,
    committable_offsets,
    parse_keys,
    plan_batches,
    split_ranges,
    stream_frontier,
)


def _covered(batches: list[BatchSpec]) -> dict[int, list[tuple[int, int]]]:
    out: dict[int, list[tuple[int, int]]] = {}
    for b in batches:
        for r in b.ranges:
            out.setdefault(r.partition, []).append((r.start, r.end))
    return {p: sorted(v) for p, v in out.items()}


def test_key_round_trip() -> None:
    spec = BatchSpec("llm-telemetry-events", (PartitionRange(3, 10, 20), PartitionRange(0, 0, 5)))
    assert spec.key == "llm-telemetry-events:0=0-5,3=10-20"
    assert BatchSpec.from_key(spec.key) == BatchSpec(
        "llm-telemetry-events", (PartitionRange(0, 0, 5), PartitionRange(3, 10, 20))
    )
    backfill = BatchSpec("t", (PartitionRange(1, 2, 3),), backfill=True)
    assert backfill.key == "backfill:t:1=2-3"
    assert BatchSpec.from_key(backfill.key).backfill


@pytest.mark.parametrize("bad", ["nope", "t:0=5-5", "t:0=1-2,0=3-4", "t:x=1-2"])
def test_invalid_keys_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        BatchSpec.from_key(bad)


def test_full_batches_only_until_overdue() -> None:
    high = {0: 70, 1: 50}
    plan = plan_batches("t", {}, high, max_records=50, max_batches=10, overdue=False)
    assert [b.size for b in plan.batches] == [50, 50]
    assert plan.backlog == 20
    plan = plan_batches("t", {}, high, max_records=50, max_batches=10, overdue=True)
    assert [b.size for b in plan.batches] == [50, 50, 20]
    assert plan.backlog == 0
    assert plan.next_start == high


def test_batches_are_capped_per_tick_and_resume_exactly() -> None:
    high = {p: 100_000 for p in range(12)}
    first = plan_batches("t", {}, high, max_records=50_000, max_batches=4, overdue=True)
    assert len(first.batches) == 4 and first.backlog == 1_000_000
    second = plan_batches(
        "t", first.next_start, high, max_records=50_000, max_batches=100, overdue=True
    )
    covered = _covered(first.batches + second.batches)
    for p in range(12):
        spans = covered[p]
        assert spans[0][0] == 0 and spans[-1][1] == 100_000
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_random_plans_never_overlap_or_skip() -> None:
    rng = random.Random(7)
    start: dict[int, int] = {}
    high = {p: 0 for p in range(5)}
    batches: list[BatchSpec] = []
    for _ in range(200):
        for p in high:
            high[p] += rng.randint(0, 30)
        plan = plan_batches(
            "t",
            start,
            high,
            max_records=rng.randint(1, 80),
            max_batches=3,
            overdue=rng.random() < 0.3,
        )
        batches += plan.batches
        start = plan.next_start
    tail = plan_batches("t", start, high, max_records=1000, max_batches=1000, overdue=True)
    covered = _covered(batches + tail.batches)
    for p, end in high.items():
        position = 0
        for s, e in covered.get(p, []):
            assert s == position
            position = e
        assert position == end


def test_frontier_ignores_backfills_and_other_topics() -> None:
    keys = ["t:0=0-10,1=0-5", "t:0=10-20", "backfill:t:0=0-500", "other:0=0-99", "junk"]
    specs = parse_keys(keys, "t")
    assert len(specs) == 3
    assert stream_frontier(specs) == {0: 20, 1: 5}


def test_split_ranges_covers_window() -> None:
    specs = split_ranges("t", {0: (5, 105), 1: (0, 0), 2: (10, 30)}, max_records=40, backfill=True)
    assert all(s.backfill and s.size <= 40 for s in specs)
    covered = _covered(specs)
    assert set(covered) == {0, 2}
    for p, (lo, hi) in {0: (5, 105), 2: (10, 30)}.items():
        spans = covered[p]
        assert spans[0][0] == lo and spans[-1][1] == hi
        assert all(x[1] == y[0] for x, y in itertools.pairwise(spans))
    assert sum(s.size for s in specs) == 120


def test_commit_waits_for_holes() -> None:
    a = BatchSpec("t", (PartitionRange(0, 0, 10),))
    b = BatchSpec("t", (PartitionRange(0, 10, 20), PartitionRange(1, 0, 7)))
    c = BatchSpec("t", (PartitionRange(0, 20, 30),))
    assert committable_offsets({0: 0, 1: 0}, [c, b]) == {0: 0, 1: 7}
    assert committable_offsets({0: 0, 1: 0}, [c, b, a]) == {0: 30, 1: 7}
    # an overlapping backfill batch does not break the chain
    over = BatchSpec("t", (PartitionRange(0, 5, 15),), backfill=True)
    assert committable_offsets({0: 10}, [over, c]) == {0: 15}
