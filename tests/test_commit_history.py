"""Offsets committed by loads that finish out of order, with each load reading only what
loaded after the scan the one before it recorded (assets.load_history)."""

from __future__ import annotations

import pytest

from benchmarks.workload import rewind_group
from memgraph_pipelines.assets.load_history import COMMIT_SCAN_METADATA
from memgraph_pipelines.assets.observatory import GRAPH_ASSET_KEY, observatory_batches
from memgraph_pipelines.definitions import build_resources
from memgraph_pipelines.inprocess import ensure_dagster_home, load_run, stage_run
from memgraph_pipelines.kafka.client import KafkaConnection, committed_offsets
from memgraph_pipelines.kafka.ranges import BatchSpec, PartitionRange
from memgraph_pipelines.pipeline.commit_scan import CommitScan
from memgraph_pipelines.settings import CONSUMER_GROUP
from tests.ingestion_support import encode, event, pipeline_settings, produce

pytestmark = pytest.mark.services

BATCH = 40


def _scans(instance) -> dict[str, tuple[int, CommitScan | None]]:
    """Per batch key: the storage id of its latest graph materialization, and its scan."""
    records = instance.fetch_materializations(GRAPH_ASSET_KEY, limit=100, ascending=True).records
    return {
        r.partition_key: (
            r.storage_id,
            CommitScan.from_json(r.asset_materialization.metadata[COMMIT_SCAN_METADATA].value),
        )
        for r in records
    }


def test_loads_out_of_order_commit_through_and_a_rewind_gets_a_full_scan(
    fresh_topic, tmp_path, empty_graph, settings, kafka_brokers
) -> None:
    topic = fresh_topic("commit-scan", partitions=1)
    pipeline = pipeline_settings(settings, topic, tmp_path)
    records = [event("llm.invocation.start", {"model_id": "gpt-4o"}) for _ in range(4 * BATCH)]
    produce(kafka_brokers, topic, encode(records))
    keys = [
        BatchSpec(topic, (PartitionRange(0, i * BATCH, (i + 1) * BATCH),)).key for i in range(4)
    ]
    instance = ensure_dagster_home(pipeline)
    resources = build_resources(pipeline)
    instance.add_dynamic_partitions(observatory_batches.name, keys)
    for key in keys:
        assert stage_run(key, instance=instance, resources=resources).success
    connection = KafkaConnection(kafka_brokers)

    committed = []
    for i in (0, 2, 3, 1):  # the second batch loads last
        assert load_run(keys[i], instance=instance, resources=resources).success
        committed.append(committed_offsets(connection, CONSUMER_GROUP, topic)[0])
    assert committed == [BATCH, BATCH, BATCH, 4 * BATCH]

    scans = _scans(instance)
    first, third, fourth = (scans[keys[i]][0] for i in (0, 2, 3))
    # Each scan reaches past every batch the offsets cover, and stops at the first they do not.
    assert scans[keys[2]][1] == CommitScan(topic, first, {0: BATCH})
    assert scans[keys[3]][1] == CommitScan(topic, first, {0: BATCH})
    assert scans[keys[1]][1] == CommitScan(topic, fourth, {0: 4 * BATCH})
    assert first < third < fourth

    # Rewound to 0 and the first batch replayed: the offsets moved back, so that load reads the
    # whole history and commits through every batch again (not only through the first two).
    rewind_group(connection, CONSUMER_GROUP, topic)
    assert committed_offsets(connection, CONSUMER_GROUP, topic) == {0: 0}
    assert load_run(keys[0], instance=instance, resources=resources).success
    assert committed_offsets(connection, CONSUMER_GROUP, topic) == {0: 4 * BATCH}
