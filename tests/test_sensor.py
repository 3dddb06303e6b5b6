"""The offsets sensor against the real broker: ticks while a producer writes."""

from __future__ import annotations

import itertools
import threading
import time

from confluent_kafka import Producer
from dagster import DagsterInstance, SensorResult, build_sensor_context

import memgraph_pipelines.assets.load_history as load_history
import memgraph_pipelines.sensors.observatory as sensor_module
from memgraph_pipelines.assets.load_history import registered_since
from memgraph_pipelines.assets.observatory import observatory_batches
from memgraph_pipelines.kafka.client import KafkaConnection, watermarks
from memgraph_pipelines.kafka.ranges import BatchSpec, PartitionRange, parse_keys
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


def _resources(brokers: str, topic: str, **ingestion: int) -> dict:
    return {
        "kafka": KafkaResource(brokers=brokers),
        "ingestion": IngestionResource(observatory_topic=topic, **ingestion),
    }


def _produce_empty_objects(brokers: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": brokers})
    for i in range(count):
        producer.produce(topic, value=b"{}", key=str(i).encode())
    assert producer.flush(30) == 0


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
    resources = _resources(kafka_brokers, topic, max_batch_records=1000, max_wait_seconds=3600)
    _produce_empty_objects(kafka_brokers, topic, 10)
    instance = DagsterInstance.ephemeral()
    keys, cursor = _tick(instance, None, resources)
    assert keys == []  # 10 fresh records: under the size cap and not overdue
    assert '"next"' in cursor


def test_batches_another_planner_registered_are_never_planned_again(
    fresh_topic, kafka_brokers, monkeypatch
) -> None:
    topic = fresh_topic("sensor-shared", partitions=1)
    resources = _resources(kafka_brokers, topic, max_batch_records=1000, max_wait_seconds=0)
    _produce_empty_objects(kafka_brokers, topic, 150)
    read: list[list[str]] = []

    def spy(instance: DagsterInstance, name: str, cursor: str | None):
        keys, after = registered_since(instance, name, cursor)
        read.append(keys)
        return keys, after

    monkeypatch.setattr(sensor_module, "registered_since", spy)
    monkeypatch.setattr(load_history, "REGISTRATIONS_PAGE", 2)
    instance = DagsterInstance.ephemeral()
    # A catch-up elsewhere took the first 60 records; the first tick starts after them.
    catch_up_key = BatchSpec(topic, (PartitionRange(0, 0, 60),)).key
    instance.add_dynamic_partitions(observatory_batches.name, [catch_up_key])
    keys, cursor = _tick(instance, None, resources)
    assert keys == [BatchSpec(topic, (PartitionRange(0, 60, 150),)).key]
    assert read[-1] == [catch_up_key]

    # More records, of which another planner takes the first 30 between two ticks.
    _produce_empty_objects(kafka_brokers, topic, 50)
    other_key = BatchSpec(topic, (PartitionRange(0, 150, 180),)).key
    instance.add_dynamic_partitions(observatory_batches.name, [other_key])
    keys, cursor = _tick(instance, cursor, resources)
    assert keys == [BatchSpec(topic, (PartitionRange(0, 180, 200),)).key]

    # A tick reads at most one page (2 keys here) plus what is new, not the whole history.
    keys, cursor = _tick(instance, cursor, resources)
    keys, cursor = _tick(instance, cursor, resources)
    assert keys == []
    assert len(instance.get_dynamic_partitions(observatory_batches.name)) == 4
    assert catch_up_key not in read[-1] and len(read[-1]) <= 2


def test_registrations_are_read_from_the_last_page_of_the_read_before(monkeypatch) -> None:
    monkeypatch.setattr(load_history, "REGISTRATIONS_PAGE", 2)
    name = observatory_batches.name
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(name, [f"t:0={i}-{i + 1}" for i in range(5)])
    keys, resume = registered_since(instance, name, None)
    assert keys == [f"t:0={i}-{i + 1}" for i in range(5)]  # three pages: 2, 2 and 1
    # The next read starts at the last page: what it held is read again, with what is new.
    assert registered_since(instance, name, resume)[0] == ["t:0=4-5"]
    instance.add_dynamic_partitions(name, ["t:0=5-6", "t:0=6-7"])
    keys, resume = registered_since(instance, name, resume)
    assert keys == ["t:0=4-5", "t:0=5-6", "t:0=6-7"]
    assert registered_since(instance, name, resume)[0] == ["t:0=6-7"]
