"""Two ways of loading the same topic that the pipeline is compared with.

- per-event: what a naive consumer does, one MERGE in its own write transaction per event.
- connector-style: what the Neo4j Kafka Connector sink does with its defaults: batches of
  1000 records of one partition, values decoded with the standard json module, one Cypher
  template per event type unwinding the batch; no validation, no vault.

Both write only the event's own node (no links, sessions or FOLLOWED_BY), so they do less work
than the pipeline: the ratios understate the pipeline's advantage, never overstate it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from neo4j import Driver, ManagedTransaction

from benchmarks.workload import iter_partition
from memgraph_pipelines.kafka.client import KafkaConnection, watermarks

#: The Neo4j Kafka Connector sink's default batch size (`neo4j.batch-size`).
CONNECTOR_BATCH_SIZE = 1000

#: Node label and the payload field that keys it (None: the event_id), per event type.
NODE_KEYS: dict[str, tuple[str, str | None]] = {
    "llm.invocation.start": ("Invocation", None),
    "llm.invocation.complete": ("Invocation", None),
    "llm.invocation.error": ("Invocation", None),
    "llm.tokens.consumed": ("Invocation", "invocation_id"),
    "llm.latency.measured": ("PerformanceMetric", None),
    "llm.error.occurred": ("Error", None),
    "llm.prompt.submitted": ("Prompt", None),
    "llm.response.generated": ("Response", None),
}

#: One event, one statement, one transaction.
PER_EVENT_MERGE: dict[str, str] = {
    "Invocation": "MERGE (n:Invocation {id: $event_id}) SET n += $props",
    "PerformanceMetric": "MERGE (n:PerformanceMetric {id: $event_id}) SET n += $props",
    "Error": "MERGE (n:Error {id: $event_id}) SET n += $props",
    "Prompt": "MERGE (n:Prompt {id: $event_id}) SET n += $props",
    "Response": "MERGE (n:Response {id: $event_id}) SET n += $props",
}

#: The connector's shape: a generic template per event type over `$events`.
CONNECTOR_TEMPLATES: dict[str, str] = {
    "Invocation": (
        "UNWIND $events AS event MERGE (n:Invocation {id: event.id}) SET n += event.props"
    ),
    "PerformanceMetric": (
        "UNWIND $events AS event MERGE (n:PerformanceMetric {id: event.id}) SET n += event.props"
    ),
    "Error": "UNWIND $events AS event MERGE (n:Error {id: event.id}) SET n += event.props",
    "Prompt": "UNWIND $events AS event MERGE (n:Prompt {id: event.id}) SET n += event.props",
    "Response": "UNWIND $events AS event MERGE (n:Response {id: event.id}) SET n += event.props",
}

_ENVELOPE_KEYS = frozenset({"payload", "metadata"})


@dataclass
class BaselineMeasurement:
    events: int
    seconds: float
    #: Records the baseline could not use (not JSON, no id, unknown type); they cost time too.
    skipped: int
    transactions: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _flatten(prefix: str, value: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            _flatten(f"{name}_", item, out)
        elif isinstance(item, list):
            out[name] = json.dumps(item)  # a property holds no mixed lists or maps
        elif item is not None:
            out[name] = item


def node_write(doc: Any) -> tuple[str, str, dict[str, Any]] | None:
    """(label, node id, flat properties) of one decoded record, or None when unusable: the
    record as is, keys unnormalised, nested maps flattened into `a_b` properties."""
    if not isinstance(doc, dict):
        return None
    event_type = str(doc.get("event_type") or doc.get("eventType") or "").lower()
    if event_type not in NODE_KEYS:
        return None
    label, key_field = NODE_KEYS[event_type]
    props: dict[str, Any] = {}
    _flatten("", {k: v for k, v in doc.items() if k not in _ENVELOPE_KEYS}, props)
    payload = doc.get("payload")
    if isinstance(payload, Mapping):
        _flatten("", payload, props)
    node_id = props.get(key_field) if key_field else None
    node_id = node_id or props.get("event_id") or props.get("eventId")
    if not isinstance(node_id, str) or not node_id:
        return None
    return label, node_id, props


def _decode(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None


def _merge_one(tx: ManagedTransaction, query: str, event_id: str, props: dict[str, Any]) -> None:
    tx.run(query, event_id=event_id, props=props).consume()


def per_event_load(
    driver: Driver, database: str, values: Iterable[bytes], *, max_events: int, max_seconds: float
) -> BaselineMeasurement:
    """Decode and MERGE each record in its own transaction until ``max_events`` are written or
    ``max_seconds`` have passed; the rate of that sample is the baseline's rate."""
    written = skipped = 0
    started = time.perf_counter()
    with driver.session(database=database) as session:
        for value in values:
            write = node_write(_decode(value))
            if write is None:
                skipped += 1
                continue
            label, node_id, props = write
            session.execute_write(_merge_one, PER_EVENT_MERGE[label], node_id, props)
            written += 1
            if written >= max_events or time.perf_counter() - started >= max_seconds:
                break
    seconds = time.perf_counter() - started
    return BaselineMeasurement(written, seconds, skipped, transactions=written)


def _unwind_batch(tx: ManagedTransaction, by_label: dict[str, list[dict[str, Any]]]) -> None:
    for label, events in by_label.items():
        tx.run(CONNECTOR_TEMPLATES[label], events=events).consume()


def connector_load(
    connection: KafkaConnection,
    driver: Driver,
    database: str,
    topic: str,
    *,
    max_events: int | None = None,
) -> BaselineMeasurement:
    """Consume the topic one partition at a time (a consumer each), in batches of 1000 records,
    each batch written in one transaction with one UNWIND per event type."""
    _, high = watermarks(connection.admin(), topic)
    written = skipped = transactions = 0
    started = time.perf_counter()
    with driver.session(database=database) as session:
        for partition in sorted(high):
            if max_events is not None and written >= max_events:
                break
            chunks = iter_partition(
                connection, topic, partition, high[partition], chunk=CONNECTOR_BATCH_SIZE
            )
            for values in chunks:
                by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for value in values:
                    write = node_write(_decode(value))
                    if write is None:
                        skipped += 1
                        continue
                    label, node_id, props = write
                    by_label[label].append({"id": node_id, "props": props})
                    written += 1
                if by_label:
                    session.execute_write(_unwind_batch, dict(by_label))
                    transactions += 1
    seconds = time.perf_counter() - started
    return BaselineMeasurement(written, seconds, skipped, transactions)
