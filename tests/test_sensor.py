"""The offsets sensor against the real broker: ticks while a producer writes."""

from __future__ import annotations

import itertools
import threading
import time

from confluent_kafka import Producer
from dagster import DagsterInstance, SensorResult, build_sensor_context

from memgraph_pipelines.assets.observatory import observatory_batches
from memgraph_pipelines.kafka.client import KafkaConnection, watermarks
from memgraph_pipelines.kafka.ranges import parse_keys
from memgraph_pipelines.resources.ingestion import IngestionResource
from memgraph_pipelines.resources.kafka import KafkaResource
from memgraph_pipelines.sensors.observatory import observatory_kafka_sensor


def _tick(instance: DagsterInstance, cursor: str | None, resources: dict) -> tuple[list[str], str]:
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = observatory_kafka_sensor(context)
    if not isinstance(result, SensorResult):
        return [], context.cursor or ""
    keys = [r.partition_key for r in result.run_requests]
    for request in result.dynamic_partitions_requests:
        assert request.partitions_def_name == observatory_batches.name
        assert list(request.partition_keys) == keys
        instance.add_dynamic_partitions(observatory_batches.name, list(request.partition_keys))
    return keys, result.cursor or ""


def test_ticks_during_production_leave_no_gap_and_no_overlap(fresh_topic, kafka_brokers) -> None:
    topic = fresh_topic("sensor", partitions=6)
    resources = {
        "kafka": KafkaResource(brokers=kafka_brokers),
        "ingestion": IngestionResource(
            observatory_topic=topic, max_batch_records=700, max_wait_seconds=0, max_runs_per_tick=3
        ),
    }
    instance = DagsterInstance.ephemeral()
    done = threading.Event()

    def produce() -> None:
        producer = Producer({"bootstrap.servers": kafka_brokers, "linger.ms": 5})
        for burst in range(30):
            for i in range(400):
                producer.produce(topic, key=f"k{i % 17}".encode(), value=b'{"n": %d}' % i)
            producer.flush()
            time.sleep(0.05 * (burst % 3))
        done.set()

    writer = threading.Thread(target=produce)
    writer.start()
    cursor: str | None = None
    emitted: list[str] = []
    ticks = 0
    while not done.is_set() or ticks < 3:
        keys, cursor = _tick(instance, cursor, resources)
        emitted += keys
        ticks += 1
    writer.join()
    for _ in range(100):  # drain what is left after the last write
        keys, cursor = _tick(instance, cursor, resources)
        if not keys:
            break
        emitted += keys
    assert ticks > 5, "the producer finished before the sensor could tick several times"

    assert len(emitted) == len(set(emitted))
    specs = parse_keys(emitted, topic)
    assert len(specs) == len(emitted) and all(s.size <= 700 for s in specs)
    low, high = watermarks(KafkaConnection(kafka_brokers).admin(), topic)
    assert sum(high.values()) == 12_000
    for p in high:
        spans = sorted((r.start, r.end) for s in specs for r in s.ranges if r.partition == p)
        assert spans, f"partition {p} never batched"
        assert spans[0][0] == low[p] and spans[-1][1] == high[p]
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end == start, f"gap or overlap in partition {p}: {end} vs {start}"


def test_nothing_due_skips_and_keeps_cursor(fresh_topic, kafka_brokers) -> None:
    topic = fresh_topic("sensor-idle", partitions=2)
    resources = {
        "kafka": KafkaResource(brokers=kafka_brokers),
        "ingestion": IngestionResource(
            observatory_topic=topic, max_batch_records=1000, max_wait_seconds=3600
        ),
    }
    producer = Producer({"bootstrap.servers": kafka_brokers})
    for i in range(10):
        producer.produce(topic, value=b"{}", key=str(i).encode())
    producer.flush()
    instance = DagsterInstance.ephemeral()
    keys, cursor = _tick(instance, None, resources)
    assert keys == []  # 10 fresh records: under the size cap and not overdue
    assert '"next"' in cursor
