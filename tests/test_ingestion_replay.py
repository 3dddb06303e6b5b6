"""Replays, backfills and a failure between two load transactions, end to end."""

from __future__ import annotations

import time

import pytest

from memgraph_pipelines.definitions import build_resources
from memgraph_pipelines.graph.summary import graph_summary
from memgraph_pipelines.inprocess import backfill, catch_up, ensure_dagster_home, run_batch
from memgraph_pipelines.kafka.client import KafkaConnection, committed_offsets, watermarks
from memgraph_pipelines.kafka.ranges import BatchSpec
from memgraph_pipelines.resources.neo4j import Neo4jResource
from memgraph_pipelines.settings import CONSUMER_GROUP
from memgraph_pipelines.telemetry.generate import generate_events
from tests.expected_graph import expect
from tests.graph_snapshot import graph_snapshot
from tests.ingestion_support import pipeline_settings, produce

pytestmark = pytest.mark.services


@pytest.fixture
def loaded(fresh_topic, tmp_path, empty_graph, settings, kafka_brokers):
    """A topic with 3,000 generated events, caught up in several batches."""
    topic = fresh_topic("replay", partitions=3)
    s = pipeline_settings(settings, topic, tmp_path)
    generated = list(generate_events(3_000, seed=5))
    produce(kafka_brokers, topic, [g.value for g in generated], [g.key for g in generated])
    totals = catch_up(s, max_batch_records=1_000)
    assert totals.failed == [] and totals.batches >= 3
    return s, totals


def test_replaying_a_batch_three_times_and_backfilling_change_nothing(loaded, neo4j_driver):
    s, _ = loaded
    before = graph_snapshot(neo4j_driver, s.neo4j_database)
    instance = ensure_dagster_home(s)
    key = instance.get_dynamic_partitions("observatory_batches")[1]
    for _ in range(3):
        outcome = run_batch(key, instance=instance, resources=build_resources(s))
        assert outcome.success and outcome.read == BatchSpec.from_key(key).size
    assert graph_snapshot(neo4j_driver, s.neo4j_database) == before

    now = int(time.time() * 1000)
    window = backfill(s, start_ms=now - 3_600_000, end_ms=now + 60_000, max_batch_records=1_500)
    assert window.failed == [] and window.read == 3_000
    assert graph_snapshot(neo4j_driver, s.neo4j_database) == before


#: Databases whose load already failed once (module state: resources are frozen models).
FAILED_ONCE: dict[str, bool] = {}


class FailingOnceNeo4j(Neo4jResource):
    """The real Neo4j, but the first attempt of each load fails after its second transaction."""

    def transaction_hook(self):
        state = {"transactions": 0}

        def hook(step: str, rows: int) -> None:
            state["transactions"] += 1
            if state["transactions"] == 2 and not FAILED_ONCE.get(self.database):
                FAILED_ONCE[self.database] = True
                raise ConnectionError("connection reset between two load transactions")

        return hook


def test_failure_between_two_transactions_then_retry_is_exact(
    fresh_topic, tmp_path, empty_graph, settings, kafka_brokers, neo4j_driver
):
    topic = fresh_topic("retry", partitions=2)
    s = pipeline_settings(settings, topic, tmp_path)
    generated = list(generate_events(1_500, seed=9))
    values = [g.value for g in generated]
    produce(kafka_brokers, topic, values, [g.key for g in generated])
    FAILED_ONCE.clear()

    resources = build_resources(s)
    real = resources["neo4j"]
    resources["neo4j"] = FailingOnceNeo4j(
        uri=real.uri, username=real.username, password=real.password, database=real.database
    )
    instance = ensure_dagster_home(s)
    low, high = watermarks(KafkaConnection(kafka_brokers).admin(), topic)
    spec = BatchSpec.from_key(
        f"{topic}:" + ",".join(f"{p}={low[p]}-{high[p]}" for p in sorted(high))
    )
    instance.add_dynamic_partitions("observatory_batches", [spec.key])
    outcome = run_batch(spec.key, instance=instance, resources=resources)

    assert FAILED_ONCE.get(s.neo4j_database), "the failure was never injected"
    assert outcome.success, "the retry policy did not recover the run"
    want = expect(values)
    assert graph_summary(neo4j_driver, s.neo4j_database) == want.graph
    committed = committed_offsets(KafkaConnection(kafka_brokers), CONSUMER_GROUP, topic)
    assert committed == {p: o for p, o in high.items() if o > low[p]}
