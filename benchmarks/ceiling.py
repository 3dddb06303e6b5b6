"""The ceiling: the graph rows of every batch prebuilt in memory (decoded and protected before
the clock starts) and loaded with the project's `load_batch`. No Kafka, no decoding, no checks:
what the graph side alone allows."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa
from neo4j import Driver

from memgraph_pipelines.graph.loader import DEFAULT_CHUNK_SIZE, load_batch
from memgraph_pipelines.kafka.client import KafkaConnection
from memgraph_pipelines.kafka.ranges import BatchSpec
from memgraph_pipelines.settings import Settings


@dataclass
class PreparedBatch:
    key: str
    tables: dict[str, pa.Table]
    #: Records of the batch's offset ranges.
    events: int


@dataclass
class CeilingMeasurement:
    chunk_size: int
    events: int
    seconds: float
    transactions: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def prepare_batches(
    connection: KafkaConnection, specs: list[BatchSpec], settings: Settings
) -> list[PreparedBatch]:
    """Each batch read, decoded and protected exactly as the pipeline stages it, minus the
    checks; sensitive texts go to the benchmark's own vault (``settings.vault_local_uri``)."""
    from benchmarks.workload import read_records
    from memgraph_pipelines.telemetry.decode import decode_records
    from memgraph_pipelines.vault.kek import load_hmac_secret, make_kek
    from memgraph_pipelines.vault.protect import protect_tables
    from memgraph_pipelines.vault.store import make_vault_store

    kek = make_kek(settings)
    store = make_vault_store(settings)
    secret = load_hmac_secret(settings)
    prepared = []
    for spec in specs:
        decoded = decode_records(read_records(connection, spec))
        protected = protect_tables(decoded.tables, kek=kek, store=store, hmac_secret=secret)
        prepared.append(PreparedBatch(spec.key, protected.tables, spec.size))
    return prepared


def load_prepared(
    driver: Driver,
    database: str,
    topic: str,
    batches: list[PreparedBatch],
    *,
    events: int,
    chunk_size: int,
) -> CeilingMeasurement:
    """Loads every prepared batch into the (empty) graph; ``events`` is the records they came
    from, so that the rate compares with the pipeline's."""
    transactions = 0
    started = time.perf_counter()
    for batch in batches:
        stats = load_batch(
            driver,
            database,
            batch.tables,
            source_topic=topic,
            batch_key=batch.key,
            ingested_at_ms=int(time.time() * 1000),
            chunk_size=chunk_size,
        )
        transactions += stats.transactions
    seconds = time.perf_counter() - started
    return CeilingMeasurement(chunk_size, events, seconds, transactions)


def warm_up(
    driver: Driver, database: str, topic: str, batches: list[PreparedBatch], *, events: int
) -> list[PreparedBatch]:
    """Loads the first prepared batches, ``events`` records' worth (at least one batch), once
    and untimed; the caller wipes the graph after. Returns the batches it loaded.

    A freshly started Neo4j spends its first ~200,000 loaded events JIT-compiling (19 s of
    compiler-thread CPU on this 2-core machine, the first load of 200,000 events twice as long
    as the next): whichever measurement ran first would pay for it. A production server has
    long been warm."""
    warm, total = [], 0
    for batch in batches:
        if warm and total + batch.events > events:
            break
        warm.append(batch)
        total += batch.events
    load_prepared(driver, database, topic, warm, events=total, chunk_size=DEFAULT_CHUNK_SIZE)
    return warm
