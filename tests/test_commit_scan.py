"""Where a load's search for loaded batches starts (pipeline.commit_scan), without servers."""

from __future__ import annotations

from memgraph_pipelines.kafka.ranges import BatchSpec, PartitionRange
from memgraph_pipelines.pipeline.commit_scan import (
    WHOLE_HISTORY,
    CommitScan,
    is_covered,
    next_scan,
    scan_start,
)

TOPIC = "llm-telemetry-events"


def _spec(*ranges: tuple[int, int, int]) -> BatchSpec:
    return BatchSpec(TOPIC, tuple(PartitionRange(*r) for r in ranges))


def test_a_batch_is_covered_when_every_range_ends_at_or_before_the_offsets() -> None:
    spec = _spec((0, 0, 10), (1, 5, 8))
    assert is_covered(spec, {0: 10, 1: 8})
    assert not is_covered(spec, {0: 10, 1: 7})
    assert not is_covered(spec, {0: 10})  # a partition with no offset covers nothing


def test_the_scan_stops_at_the_first_batch_not_covered_in_storage_order() -> None:
    first, second, third = _spec((0, 0, 10)), _spec((0, 10, 20)), _spec((0, 20, 30))
    # Loaded first, third, then... second not yet: the offsets stop at 10.
    loaded = [(7, third), (3, first)]
    scan = next_scan(TOPIC, WHOLE_HISTORY, loaded, {0: 10})
    assert scan == CommitScan(TOPIC, 3, {0: 10})
    # Once the second is loaded too, everything is covered through the last storage id.
    scan = next_scan(TOPIC, 3, [(7, third), (9, second)], {0: 30})
    assert scan.after == 9
    # Nothing new read: the scan stays where it was.
    assert next_scan(TOPIC, 9, [], {0: 30}).after == 9


def test_a_scan_holds_until_an_offset_moves_back_or_the_topic_changes() -> None:
    previous = CommitScan(TOPIC, 41, {0: 30, 1: 5})
    assert scan_start(previous, TOPIC, {0: 30, 1: 5}) == 41
    assert scan_start(previous, TOPIC, {0: 90, 1: 6, 2: 1}) == 41
    # A rewound group: what loaded before the rewind may fill its hole again.
    assert scan_start(previous, TOPIC, {0: 0, 1: 5}) == WHOLE_HISTORY
    assert scan_start(previous, "another-topic", {0: 30, 1: 5}) == WHOLE_HISTORY
    assert scan_start(None, TOPIC, {0: 30}) == WHOLE_HISTORY


def test_the_scan_round_trips_through_metadata_and_rejects_anything_else() -> None:
    scan = CommitScan(TOPIC, 12, {1: 4, 0: 9})
    assert scan.as_json() == {
        "topic": TOPIC,
        "after_storage_id": 12,
        "offsets": {"0": 9, "1": 4},
    }
    assert CommitScan.from_json(scan.as_json()) == scan
    for value in (None, [], {"topic": TOPIC}, {**scan.as_json(), "offsets": {"x": 1}}):
        assert CommitScan.from_json(value) is None
