"""Helpers for the end-to-end ingestion tests: settings for a fresh topic and stores, record
production, graph snapshots without provenance, and DLQ consumption."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from memgraph_pipelines.kafka.client import KafkaConnection, watermarks
from memgraph_pipelines.settings import Settings
from tests.graph_snapshot import graph_snapshot

#: Properties that record where and when a node was loaded, not what it says.
PROVENANCE = frozenset(
    {"source_topic", "source_partition", "source_offset", "batch_key", "ingested_at"}
)


def pipeline_settings(base: Settings, topic: str, root: Path) -> Settings:
    return dataclasses.replace(
        base,
        observatory_topic=topic,
        staging_uri=str(root / "staging"),
        vault_local_uri=str(root / "vault"),
        local_kek_file=str(root / "keys" / "kek.key"),
        dagster_home=str(root / "dagster_home"),
        kms_key_id=None,
    )


def produce(brokers: str, topic: str, values: list[bytes | None], keys: list[Any] | None = None):
    producer = Producer(
        {"bootstrap.servers": brokers, "linger.ms": 5, "message.max.bytes": 8_000_000}
    )
    for i, value in enumerate(values):
        key = keys[i] if keys else None
        producer.produce(topic, value=value, key=key)
    assert producer.flush(30) == 0


def event(event_type: str, payload: dict, *, ts: str = "2026-11-30T09:00:00Z", **extra) -> dict:
    return {
        "event_id": extra.pop("event_id", str(uuid.uuid4())),
        "event_type": event_type,
        "schema_version": "2",
        "timestamp": ts,
        "payload": payload,
        **extra,
    }


def encode(records: list[dict]) -> list[bytes]:
    return [orjson.dumps(r) for r in records]


def snapshot_without_provenance(driver, database: str) -> dict[str, list[Any]]:
    snap = graph_snapshot(driver, database)
    nodes = sorted(
        (labels, tuple(p for p in props if p[0] not in PROVENANCE))
        for labels, props in snap["nodes"]
    )
    return {"nodes": nodes, "relationships": snap["relationships"]}


def read_all(brokers: str, topic: str) -> list[Any]:
    """Every message of ``topic`` (for DLQ checks), read by assign without a group commit."""
    low, high = watermarks(KafkaConnection(brokers).admin(), topic)
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"t-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, low[p]) for p in high if high[p] > low[p]])
    wanted = sum(high[p] - low[p] for p in high)
    out: list[Any] = []
    while len(out) < wanted:
        messages = consumer.consume(num_messages=1000, timeout=10)
        assert messages, f"expected {wanted} messages on {topic}, got {len(out)}"
        out.extend(m for m in messages if m.error() is None)
    consumer.close()
    return out
