"""Catch-up with several batches: each staged while the one before it loads in the loader
process. A held batch in the middle is never loaded, and offsets stop before it."""

from __future__ import annotations

import pytest

from memgraph_pipelines.definitions import build_resources
from memgraph_pipelines.graph.summary import graph_summary
from memgraph_pipelines.inprocess import catch_up, ensure_dagster_home, load_run
from memgraph_pipelines.kafka.client import KafkaConnection, committed_offsets
from memgraph_pipelines.settings import CONSUMER_GROUP
from tests.ingestion_support import encode, event, pipeline_settings, produce

pytestmark = pytest.mark.services

BATCH = 40


def _complete(total: int) -> dict:
    payload = {
        "model_id": "gpt-4o",
        "status": "success",
        "token_count": total,
        "prompt_tokens": 2,
        "completion_tokens": 3,
    }
    return event("llm.invocation.complete", payload)


def test_held_batch_between_loaded_ones(
    fresh_topic, tmp_path, empty_graph, settings, kafka_brokers, neo4j_driver
) -> None:
    # One partition: batches are consecutive offset ranges of 40. The second has 10 of 40
    # records (25 %) whose token total is wrong, over the 5 % threshold: it is held.
    topic = fresh_topic("overlap", partitions=1)
    pipeline = pipeline_settings(settings, topic, tmp_path)
    good, bad = [_complete(5) for _ in range(3 * BATCH - 10)], [_complete(50) for _ in range(10)]
    records = good[:BATCH] + bad + good[BATCH : 2 * BATCH - 10] + good[2 * BATCH - 10 :]
    produce(kafka_brokers, topic, encode(records))

    outcomes = []
    totals = catch_up(pipeline, max_batch_records=BATCH, on_batch=outcomes.append)

    assert totals.batches == 3 and totals.read == 3 * BATCH
    held = [o for o in outcomes if not o.success]
    assert [o.failed_checks for o in held] == [["observatory_batch_valid"]]
    assert held[0].key.endswith(f"0={BATCH}-{2 * BATCH}")
    assert totals.failed == [held[0].key]
    assert totals.loaded == 2 * BATCH
    assert totals.loader_peak_rss_mb is not None and totals.loader_peak_rss_mb > 0
    counts = graph_summary(neo4j_driver, pipeline.neo4j_database)["nodes"]
    assert counts["Invocation"] == 2 * BATCH
    # Only the contiguous prefix of loaded ranges is committed: the third waits for the second.
    assert committed_offsets(KafkaConnection(kafka_brokers), CONSUMER_GROUP, topic) == {0: BATCH}

    # A graph-only run of the held batch (as launched by hand) refuses it and loads nothing.
    instance = ensure_dagster_home(pipeline)
    refused = load_run(held[0].key, instance=instance, resources=build_resources(pipeline))
    assert not refused.success and refused.loaded == 0
    assert graph_summary(neo4j_driver, pipeline.neo4j_database)["nodes"]["Invocation"] == 2 * BATCH


def test_catch_up_over_several_plans_reads_every_record_once(
    fresh_topic, tmp_path, empty_graph, settings, kafka_brokers, monkeypatch
) -> None:
    import memgraph_pipelines.inprocess as inprocess

    # Two batches per plan: six one-record batches take three plans, each reading only the
    # registrations made since the one before.
    monkeypatch.setattr(inprocess, "CATCH_UP_PLAN_BATCHES", 2)
    topic = fresh_topic("catch-up-plans", partitions=1)
    pipeline = pipeline_settings(settings, topic, tmp_path)
    produce(kafka_brokers, topic, encode([_complete(5) for _ in range(6)]))

    outcomes = []
    totals = catch_up(pipeline, max_batch_records=1, on_batch=outcomes.append)

    assert totals.batches == 6 and totals.read == 6 and totals.loaded == 6
    assert sorted(o.key for o in outcomes) == sorted(f"{topic}:0={i}-{i + 1}" for i in range(6))
    assert committed_offsets(KafkaConnection(kafka_brokers), CONSUMER_GROUP, topic) == {0: 6}
