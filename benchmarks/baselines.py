"""Two ways of loading the same topic that the pipeline is compared with, both writing the
lineage graph with the templates of ``benchmarks.lineage_templates``:

- per-event: what a naive consumer does, one transaction per event (its template with a
  one-event list), records decoded with the standard json module.
- connector-style: what the Neo4j Kafka Connector sink does with its defaults: batches of
  1000 records of one partition, values decoded with the standard json module, one Cypher
  template per event type unwinding the batch; no validation, no vault.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from neo4j import Driver, ManagedTransaction

from benchmarks.lineage_templates import TEMPLATES, lineage_event
from benchmarks.workload import iter_partition
from memgraph_pipelines.kafka.client import KafkaConnection, watermarks

#: The Neo4j Kafka Connector sink's default batch size (`neo4j.batch-size`).
CONNECTOR_BATCH_SIZE = 1000
#: Records the baselines' untimed warm-up writes in each of its two ways (see ``warm_up``).
WARM_UP_CONNECTOR_EVENTS = 20_000
WARM_UP_PER_EVENT_EVENTS = 3_000


@dataclass
class BaselineMeasurement:
    events: int
    seconds: float
    #: Records the baseline could not use (not JSON, no id, unknown type); they cost time too.
    skipped: int
    transactions: int
    #: Per-event only: events/s over the first and the second half of the sample, to show
    #: whether the rate held steady (the extrapolation assumes it does).
    half_rates: tuple[float, float] | None = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _decode(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None


def _write_one(tx: ManagedTransaction, template: str, event: dict[str, Any]) -> None:
    tx.run(TEMPLATES[template], events=[event]).consume()


def per_event_load(
    driver: Driver, database: str, values: Iterable[bytes], *, max_events: int, max_seconds: float
) -> BaselineMeasurement:
    """Decode and MERGE each record in its own transaction until ``max_events`` are written or
    ``max_seconds`` have passed; the rate of that sample is the baseline's rate."""
    written = skipped = 0
    started = time.perf_counter()
    done_at: list[float] = []  # seconds since the start, after each event
    with driver.session(database=database) as session:
        for value in values:
            write = lineage_event(_decode(value))
            if write is None:
                skipped += 1
                continue
            session.execute_write(_write_one, *write)
            written += 1
            done_at.append(time.perf_counter() - started)
            if written >= max_events or done_at[-1] >= max_seconds:
                break
    seconds = time.perf_counter() - started
    return BaselineMeasurement(
        written, seconds, skipped, transactions=written, half_rates=_half_rates(done_at)
    )


def _half_rates(done_at: list[float]) -> tuple[float, float] | None:
    half = len(done_at) // 2
    if half == 0:
        return None
    first, second = done_at[half - 1], done_at[-1] - done_at[half - 1]
    rest = len(done_at) - half
    return (half / first if first > 0 else 0.0, rest / second if second > 0 else 0.0)


def _unwind_batch(tx: ManagedTransaction, by_type: dict[str, list[dict[str, Any]]]) -> None:
    for template, events in by_type.items():
        tx.run(TEMPLATES[template], events=events).consume()


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
                    write = lineage_event(_decode(value))
                    if write is None:
                        skipped += 1
                        continue
                    by_label[write[0]].append(write[1])
                    written += 1
                if by_label:
                    session.execute_write(_unwind_batch, dict(by_label))
                    transactions += 1
    seconds = time.perf_counter() - started
    return BaselineMeasurement(written, seconds, skipped, transactions)


def warm_up(
    connection: KafkaConnection, driver: Driver, database: str, topic: str, values: list[bytes]
) -> dict[str, int]:
    """Runs both baselines briefly, untimed, so that their templates are planned and compiled
    before they are measured, as the pipeline's queries are by the benchmark's main warm-up:
    on a freshly started server a 10,000-event per-event sample ran at 574 events/s in its
    first half and 831 in its second; after 1,000 per-event writes at 667 and 775, after 3,000
    at 894 and 852. The caller wipes the graph after."""
    connector = connector_load(
        connection, driver, database, topic, max_events=WARM_UP_CONNECTOR_EVENTS
    )
    per_event = per_event_load(
        driver, database, values, max_events=WARM_UP_PER_EVENT_EVENTS, max_seconds=30.0
    )
    return {"connector_events": connector.events, "per_event_events": per_event.events}
