"""Kafka I/O with confluent-kafka: connection settings, watermarks, exact-range reads and
offset commits. Plain module.

Reads never subscribe to the consumer group: a range is read by ``assign`` + seek, so that a
batch re-reads exactly its records, and the group only ever receives explicit commits of what
the graph holds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from memgraph_pipelines.kafka.ranges import BatchSpec
from memgraph_pipelines.kafka.records import KafkaRecord

ADMIN_TIMEOUT_S = 15.0
_CLIENTS_LOCK = threading.Lock()
#: Long-lived clients, by (process id, kind, connection, ...): librdkafka's threads do not
#: survive a fork, so a forked child makes its own (and never touches, or frees, its parent's).
_CLIENTS: dict[tuple[object, ...], Any] = {}


def _process_client(key: tuple[object, ...], make: Callable[[], Any]) -> Any:
    key = (os.getpid(), *key)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = make()
        return _CLIENTS[key]


_COORDINATOR_BUSY = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
    }
)


@dataclass(frozen=True)
class KafkaConnection:
    brokers: str
    security_protocol: str = "PLAINTEXT"
    username: str | None = None
    password: str | None = None
    sasl_mechanism: str = "SCRAM-SHA-512"

    def __repr__(self) -> str:  # the password never reaches logs
        return f"KafkaConnection(brokers={self.brokers!r}, protocol={self.security_protocol!r})"

    def base_config(self) -> dict[str, str]:
        config = {"bootstrap.servers": self.brokers, "security.protocol": self.security_protocol}
        if self.security_protocol.upper().startswith("SASL"):
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.username or ""
            config["sasl.password"] = self.password or ""
        return config

    def admin(self) -> AdminClient:
        """This process's admin client for the connection: a new one would cost a broker
        connection and a metadata round trip on every call (the sensor calls it each tick)."""
        return _process_client(("admin", self), lambda: AdminClient(self.base_config()))

    def offsets_consumer(self, group_id: str) -> Consumer:
        """This process's consumer of ``group_id`` for reading and committing its offsets.
        It never subscribes or reads; kept open, it keeps the group coordinator's address,
        which a new consumer would look up again on every commit."""
        return _process_client(("offsets", self, group_id), lambda: self.consumer(group_id))

    def shared_producer(self) -> Producer:
        """This process's producer for the connection (dead letters): starting one costs a
        broker round trip and an idempotence handshake, too much to pay per batch."""
        return _process_client(("producer", self), lambda: Producer(self.producer_config()))

    def consumer(self, group_id: str, **extra: str | int | bool) -> Consumer:
        config: dict[str, str | int | bool] = {
            **self.base_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            # Moderate fetches and a small prefetch queue: a read stops at the batch's end,
            # and what the consumer buffers beyond it is memory the batch process holds (64 MiB
            # of queue cost the batch process 70 MB). A larger record is still fetched whole
            # (the limits are soft). A full queue delays the next fetch by 10 ms, not 1 s.
            "fetch.max.bytes": 8 * 1024 * 1024,
            "max.partition.fetch.bytes": 1024 * 1024,
            "queued.max.messages.kbytes": 8 * 1024,
            "fetch.queue.backoff.ms": 10,
        }
        config.update(extra)
        return Consumer(config)

    def producer_config(self) -> dict[str, str | int | bool]:
        return {
            **self.base_config(),
            "linger.ms": 20,
            "compression.type": "lz4",
            "acks": "all",
            "enable.idempotence": True,
            # A dead letter carries its original value, which may itself exceed the 1 MB
            # default (the local broker accepts 16 MiB).
            "message.max.bytes": 16 * 1024 * 1024,
        }


def _list_offsets(
    admin: AdminClient, topic: str, partitions: list[int], spec: OffsetSpec
) -> dict[int, int]:
    request = {TopicPartition(topic, p): spec for p in partitions}
    futures = admin.list_offsets(request, request_timeout=ADMIN_TIMEOUT_S)
    return {tp.partition: f.result().offset for tp, f in futures.items()}


def topic_partitions(admin: AdminClient, topic: str) -> list[int]:
    metadata = admin.list_topics(topic, timeout=ADMIN_TIMEOUT_S)
    info = metadata.topics.get(topic)
    if info is None or info.error is not None:
        raise KafkaException(info.error if info else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    return sorted(info.partitions)


def watermarks(admin: AdminClient, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """Low and high watermarks per partition, in two requests for all partitions."""
    partitions = topic_partitions(admin, topic)
    low = _list_offsets(admin, topic, partitions, OffsetSpec.earliest())
    high = _list_offsets(admin, topic, partitions, OffsetSpec.latest())
    return low, high


def offsets_for_time(admin: AdminClient, topic: str, timestamp_ms: int) -> dict[int, int]:
    """Per partition, the first offset whose record timestamp is >= timestamp_ms; the high
    watermark where no such record exists."""
    partitions = topic_partitions(admin, topic)
    found = _list_offsets(admin, topic, partitions, OffsetSpec.for_timestamp(timestamp_ms))
    missing = [p for p, o in found.items() if o < 0]
    if missing:
        found.update(_list_offsets(admin, topic, missing, OffsetSpec.latest()))
    return found


def _committed(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    wanted = [TopicPartition(topic, p) for p in partitions]
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        try:
            found = consumer.committed(wanted, timeout=ADMIN_TIMEOUT_S)
            return {tp.partition: tp.offset for tp in found if tp.offset >= 0}
        except KafkaException as exc:
            # A new group's coordinator moves and loads at first use: wait it out.
            if exc.args[0].code() not in _COORDINATOR_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def committed_offsets(connection: KafkaConnection, group_id: str, topic: str) -> dict[int, int]:
    """The group's committed offsets for ``topic`` (partitions without one are absent).

    Asked through a consumer of the group, not AdminClient.list_consumer_group_offsets: the
    latter crashes librdkafka (NULL consumer-group handle in the OffsetFetch reply handler)
    when the group coordinator is still loading, as on a broker's first use of a group.
    """
    partitions = topic_partitions(connection.admin(), topic)
    return _committed(connection.offsets_consumer(group_id), topic, partitions)


def ensure_topic(connection: KafkaConnection, topic: str, partitions: int) -> None:
    """Create ``topic`` unless it exists (brokers here do not auto-create topics)."""
    from confluent_kafka.admin import NewTopic

    admin = connection.admin()  # kept alive: the future fails if its client is collected
    future = admin.create_topics([NewTopic(topic, partitions, -1)])[topic]
    try:
        future.result(timeout=30)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


class RangeGoneError(RuntimeError):
    """Records of a range are no longer in Kafka (deleted by retention)."""


def read_batch(
    connection: KafkaConnection,
    group_id: str,
    spec: BatchSpec,
    *,
    chunk: int = 5000,
    timeout_s: float = 60.0,
) -> Iterator[list[KafkaRecord]]:
    """Yield the records of ``spec`` in chunks, exactly ``[start, end)`` of each partition."""
    consumer = connection.consumer(group_id)
    ends = {r.partition: r.end for r in spec.ranges}
    starts = {r.partition: r.start for r in spec.ranges}
    expected = {r.partition: r.start for r in spec.ranges}
    consumer.assign([TopicPartition(spec.topic, r.partition, r.start) for r in spec.ranges])
    open_partitions = set(ends)
    deadline = time.monotonic() + timeout_s
    topic = spec.topic
    try:
        while open_partitions:
            # Ask for no more than is left, so that the last call returns as soon as the
            # range is complete instead of waiting out the timeout for records past its end.
            left = sum(ends[p] - expected[p] for p in open_partitions)
            messages = consumer.consume(num_messages=max(1, min(chunk, left)), timeout=1.0)
            out: list[KafkaRecord] = []
            for m in messages:
                err = m.error()
                p = m.partition()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if p in open_partitions:
                            # Control records (transaction markers) may end a range unseen.
                            if m.offset() < ends[p]:
                                raise RangeGoneError(
                                    f"{topic}[{p}] ends at {m.offset()}, before {ends[p]}"
                                )
                            open_partitions.discard(p)
                        continue
                    raise KafkaException(err)
                if p not in open_partitions:
                    continue
                offset = m.offset()
                if offset > expected[p] and expected[p] == starts[p]:
                    raise RangeGoneError(
                        f"{topic}[{p}] offsets {starts[p]}-{offset} are gone (retention)"
                    )
                if offset >= ends[p]:
                    open_partitions.discard(p)
                    consumer.pause([TopicPartition(topic, p)])
                    continue
                expected[p] = offset + 1
                _, ts = m.timestamp()
                out.append(
                    KafkaRecord(topic, p, offset, m.key(), m.value(), ts, tuple(m.headers() or ()))
                )
                if expected[p] >= ends[p]:
                    open_partitions.discard(p)
                    consumer.pause([TopicPartition(topic, p)])
            if out:
                deadline = time.monotonic() + timeout_s
                yield out
            elif time.monotonic() > deadline:
                raise TimeoutError(f"no records from {topic} for {timeout_s:.0f}s: {spec.key}")
    finally:
        consumer.close()


def advance_committed(
    connection: KafkaConnection,
    group_id: str,
    topic: str,
    target: Callable[[dict[int, int]], Mapping[int, int]],
) -> dict[int, int]:
    """Commit ``target(committed)`` for the group, never moving a committed offset backwards;
    one consumer of the group reads and commits. Returns what was committed."""
    partitions = topic_partitions(connection.admin(), topic)
    consumer = connection.offsets_consumer(group_id)
    current = _committed(consumer, topic, partitions)
    forward = {p: o for p, o in target(current).items() if o > current.get(p, -1)}
    if forward:
        consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in sorted(forward.items())],
            asynchronous=False,
        )
    return forward


def commit_offsets(
    connection: KafkaConnection, group_id: str, topic: str, offsets: Mapping[int, int]
) -> dict[int, int]:
    """Commit ``offsets`` for the group, never moving a committed offset backwards.
    Returns what was committed."""
    return advance_committed(connection, group_id, topic, lambda _current: offsets)
