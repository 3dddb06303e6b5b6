"""The benchmark's inputs: a fresh topic holding N generated events, an empty migrated graph,
and the same records read back from Kafka per batch (for the ceiling and the baselines)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from neo4j import Driver

from memgraph_pipelines.kafka.client import KafkaConnection, read_batch, watermarks
from memgraph_pipelines.kafka.ranges import BatchSpec, split_ranges
from memgraph_pipelines.kafka.records import KafkaRecord
from memgraph_pipelines.settings import dlq_topic, parked_topic

PARTITIONS = 12
DLQ_PARTITIONS = 3
TOPIC_TIMEOUT_S = 30.0
#: Never a real consumer group: reads for the benchmark's own measurements commit nothing.
READ_GROUP = "memgraph-bench-reader"

COUNT_NODES = "MATCH (n) RETURN count(n) AS nodes"


@dataclass(frozen=True)
class EventShares:
    sensitive: float = 0.05
    pii: float = 0.05
    malformed: float = 0.01


def unique_topic_name(prefix: str = "bench") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_topics(connection: KafkaConnection, topic: str) -> list[str]:
    """The telemetry topic (12 partitions) and its dead-letter twins; returns their names."""
    admin = connection.admin()
    topics = [
        NewTopic(topic, PARTITIONS, 1),
        NewTopic(dlq_topic(topic), DLQ_PARTITIONS, 1),
        NewTopic(parked_topic(topic), 1, 1),
    ]
    for future in admin.create_topics(topics, operation_timeout=TOPIC_TIMEOUT_S).values():
        future.result(timeout=TOPIC_TIMEOUT_S)
    return [t.topic for t in topics]


def delete_topics(connection: KafkaConnection, names: list[str]) -> list[str]:
    """Best effort (the names are unique); returns the names that could not be deleted."""
    if not names:
        return []
    admin: AdminClient = connection.admin()
    failed = []
    for name, future in admin.delete_topics(names, operation_timeout=TOPIC_TIMEOUT_S).items():
        try:
            future.result(timeout=TOPIC_TIMEOUT_S)
        except Exception:  # a leftover topic is harmless; the report names it
            failed.append(name)
    return failed


def produce_workload(
    connection: KafkaConnection, topic: str, n: int, *, seed: int, shares: EventShares
) -> dict[str, int]:
    """Generates and produces N mixed events; returns how many were malformed or duplicates."""
    from memgraph_pipelines.telemetry.generate import (
        generate_events,
        produce_events,
        tally_generated,
    )

    tally = {"produced": 0, "malformed": 0, "duplicates": 0}

    events = generate_events(
        n,
        seed=seed,
        sensitive_share=shares.sensitive,
        pii_share=shares.pii,
        malformed_share=shares.malformed,
    )
    tally["produced"] = produce_events(
        connection.base_config(), topic, tally_generated(events, tally)
    )
    return tally


def rewind_group(connection: KafkaConnection, group_id: str, topic: str) -> dict[int, int]:
    """Sets the group's committed offsets of ``topic`` back to its low watermarks, so that the
    next round's catch-up reads the whole topic again; returns them. The group's offsets of
    other topics are left alone (the group may be a real pipeline's)."""
    low, _ = watermarks(connection.admin(), topic)
    consumer = connection.offsets_consumer(group_id)
    consumer.commit(
        offsets=[TopicPartition(topic, p, o) for p, o in sorted(low.items())], asynchronous=False
    )
    return low


def flush_to_disk() -> None:
    """sync(2): writes every dirty page out before a measurement starts, so that none pays for
    the write-back of what the run did before it (the topic just produced, the vault files of
    the ceiling's preparation, a wipe's logs). Creating 1,900 small files, what the vault does
    per batch, took from 0.04 s to 1.6 s of system time here; once, a sync took it from 0.73 s
    to 0.27 s."""
    os.sync()


def wipe_graph(driver: Driver, database: str) -> None:
    """Deletes every node and relationship, then re-applies the schema migrations."""
    from memgraph_pipelines.graph.migrations import apply_migrations
    from memgraph_pipelines.graph.wipe import delete_all

    delete_all(driver, database)
    with driver.session(database=database) as session:
        remaining = session.run(COUNT_NODES).single(strict=True)["nodes"]
    if remaining:
        raise RuntimeError(f"the graph still holds {remaining} nodes after the wipe")
    apply_migrations(driver, database)


def topic_batches(connection: KafkaConnection, topic: str, max_records: int) -> list[BatchSpec]:
    """The whole topic cut into batches of at most ``max_records``, as the planner cuts it."""
    low, high = watermarks(connection.admin(), topic)
    ranges = {p: (low[p], high[p]) for p in high}
    return split_ranges(topic, ranges, max_records=max_records, backfill=False)


def read_records(connection: KafkaConnection, spec: BatchSpec) -> list[KafkaRecord]:
    return [r for chunk in read_batch(connection, READ_GROUP, spec) for r in chunk]


def sample_values(connection: KafkaConnection, topic: str, count: int) -> list[bytes]:
    """The first ``count`` values of the topic, taken partition after partition."""
    _, high = watermarks(connection.admin(), topic)
    values: list[bytes] = []
    for partition in sorted(high):
        wanted = min(high[partition], count - len(values))
        if wanted <= 0:
            break
        for chunk in iter_partition(connection, topic, partition, wanted, chunk=1000):
            values.extend(chunk)
    return values[:count]


def iter_partition(
    connection: KafkaConnection, topic: str, partition: int, end: int, *, chunk: int
) -> Iterator[list[bytes]]:
    """Values of one partition from its start to ``end``, in lists of at most ``chunk``: what a
    sink task that owns one partition sees."""
    consumer = connection.consumer(READ_GROUP)
    consumer.assign([TopicPartition(topic, partition, 0)])
    pending: list[bytes] = []
    position = 0
    try:
        while position < end:
            # A short wait: a partition's tail is smaller than `chunk`, and EOF ends it anyway.
            for message in consumer.consume(num_messages=chunk, timeout=0.1):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        # Nothing more is produced: control records may end it before `end`.
                        position = end
                        continue
                    raise RuntimeError(f"{topic}[{partition}]: {error}")
                if message.offset() >= end:
                    continue
                position = message.offset() + 1
                pending.append(message.value() or b"")
                if len(pending) == chunk:
                    yield pending
                    pending = []
        if pending:
            yield pending
    finally:
        consumer.close()
