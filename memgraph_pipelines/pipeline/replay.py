"""DLQ replay (SPEC §2.4): dead letters are re-read, decrypted, decoded and validated again;
what is valid now is loaded like any batch, the rest goes back to the DLQ with
``x-retry-count`` + 1, or to the parked topic once it has used its retries. Plain module.

Progress is the replay group's committed offsets on the DLQ: every record before them has been
handled (loaded, dead-lettered again, parked, or re-queued). A replay reads from there up to
the high watermarks taken when it starts, so the copies it writes itself wait for the next one.
A record a filter does not select is re-queued: copied unchanged (headers, value, DLQ timestamp)
to the end of the DLQ, so the offsets can move past it and a later replay still finds it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from memgraph_pipelines.kafka import dlq as dead_letters
from memgraph_pipelines.kafka.client import (
    KafkaConnection,
    commit_offsets,
    committed_offsets,
    ensure_topic,
    read_batch,
    watermarks,
)
from memgraph_pipelines.kafka.dlq import (
    DeadLetterHeaders,
    DeadLetterMessage,
    InvalidDeadLetterError,
    build_dead_letter_message,
    decrypt_dead_letter_value,
    parse_dead_letter,
    produce_dead_letters,
    produce_messages,
)
from memgraph_pipelines.kafka.ranges import BatchSpec, PartitionRange
from memgraph_pipelines.kafka.records import KafkaRecord
from memgraph_pipelines.pipeline.batch import drop_records, loaded_event_count
from memgraph_pipelines.settings import dlq_topic, parked_topic
from memgraph_pipelines.telemetry.classify import LEVELS
from memgraph_pipelines.telemetry.outcome import DeadLetter, FailureReason
from memgraph_pipelines.validation.suite import ValidationConfig

if TYPE_CHECKING:
    import pyarrow as pa

REPLAY_GROUP = "memory-graph-dlq-replay"
DEFAULT_MAX_RETRIES = 3
BATCH_KEY_PREFIX = "dlq-replay:"
H_PARKED_AT = "x-parked-at"
#: Set on a parked message whose headers could not be read as a dead letter's.
H_PARKED_REASON = "x-parked-reason"
#: Headers a replay writes itself; the producer's own headers are the others.
_DEAD_LETTER_HEADERS = frozenset(
    getattr(dead_letters, name) for name in dir(dead_letters) if name.startswith("H_")
) | {H_PARKED_AT, H_PARKED_REASON}


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which dead letters a replay takes; ``None`` fields select everything."""

    reason: str | None = None
    since_ms: int | None = None

    def selects(self, reason: str | None, dlq_timestamp_ms: int) -> bool:
        if self.reason is not None and reason != self.reason:
            return False
        return self.since_ms is None or dlq_timestamp_ms >= self.since_ms


@dataclass(frozen=True)
class ReplayOptions:
    filter: ReplayFilter = field(default_factory=ReplayFilter)
    #: A record already retried this many times is parked when it fails again.
    max_retries: int = DEFAULT_MAX_RETRIES
    group_id: str = REPLAY_GROUP
    chunk_size: int = 5000
    #: ``None`` skips validation. The hold threshold of normal batches does not apply: a DLQ
    #: is expected to be mostly records that still fail.
    validation: ValidationConfig | None = field(default_factory=ValidationConfig)
    load_chunk_size: int = 5000
    load_writers: int = 2


@dataclass(frozen=True)
class ReplayTargets:
    """The outside systems a replay talks to, already configured."""

    connection: KafkaConnection
    driver: Any
    database: str
    kek: Any
    store: Any
    hmac_secret: bytes = field(repr=False)


@dataclass
class ReplaySummary:
    read: int = 0
    loaded: int = 0
    dead_lettered_again: Counter[str] = field(default_factory=Counter)
    parked: int = 0
    skipped_by_filter: int = 0
    #: Records naming the same original record (or event_id) as another one of their chunk.
    duplicates: int = 0
    committed: dict[int, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        counts = asdict(self)
        counts["dead_lettered_again"] = dict(sorted(self.dead_lettered_again.items()))
        counts["committed_offsets"] = {
            str(p): o for p, o in sorted(counts.pop("committed").items())
        }
        return counts


@dataclass(frozen=True, slots=True)
class _Replayed:
    dlq_record: KafkaRecord
    headers: DeadLetterHeaders
    original: KafkaRecord


def iso_to_ms(text: str) -> int:
    """Epoch ms of an ISO-8601 time that carries an offset (``Z`` accepted)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset, e.g. 2026-11-30T09:00:00Z")
    return int(moment.timestamp() * 1000)


def pending_ranges(
    connection: KafkaConnection, topic: str, group_id: str
) -> tuple[PartitionRange, ...]:
    """Per DLQ partition, the records after the group's committed offset (or the low watermark)."""
    admin = connection.admin()
    low, high = watermarks(admin, topic)
    committed = committed_offsets(connection, group_id, topic)
    starts = {p: max(low[p], committed.get(p, low[p])) for p in high}
    return tuple(PartitionRange(p, starts[p], high[p]) for p in sorted(high) if high[p] > starts[p])


def _producer_headers(headers: Iterable[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, v) for k, v in headers if k not in _DEAD_LETTER_HEADERS)


def _again(dl: DeadLetter, replayed: _Replayed) -> DeadLetter:
    """The dead letter of a record that failed once more. A value that was encrypted stays
    encrypted, at no lower a level: nothing ever lowers a classification."""
    encryption, level = replayed.headers.encryption, dl.classification
    if encryption is not None:
        known = [c for c in (level, encryption.classification) if c in LEVELS]
        level = max(known, key=LEVELS.index) if known else encryption.classification
    return replace(
        dl,
        retry_count=replayed.headers.retry_count + 1,
        sensitive=dl.sensitive or encryption is not None,
        classification=level,
    )


def _parked_message(message: DeadLetterMessage, reason: str | None = None) -> DeadLetterMessage:
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    extra = [(H_PARKED_AT, at.encode())]
    if reason:
        extra.append((H_PARKED_REASON, reason.encode()))
    return replace(message, headers=[*message.headers, *extra])


def _validation_dead_letters(
    tables: dict[str, pa.Table], config: ValidationConfig, by_position: dict, topic: str
) -> tuple[dict[str, pa.Table], list[DeadLetter]]:
    from memgraph_pipelines.validation import split_failed_rows, validate_tables

    _, failed = split_failed_rows(tables, validate_tables(tables, config))
    names: dict[tuple[int, int], set[str]] = {}
    for row in failed:
        names.setdefault((row.source_partition, row.source_offset), set()).update(row.expectations)
    dead = [
        DeadLetter(
            record=by_position[(topic, *position)].original,
            reason=FailureReason.VALIDATION_FAILED,
            detail="failed expectations: " + ", ".join(sorted(expectations)),
            # Which text rows are harmless is not worth telling apart here: encrypt them all.
            sensitive=True,
        )
        for position, expectations in sorted(names.items())
    ]
    return drop_records(tables, set(names)), dead


def _produce(connection: KafkaConnection, sends: list[tuple[str, DeadLetterMessage, int]]) -> Any:
    """Produce raw messages and wait for every acknowledgement; returns the producer."""
    from confluent_kafka import Producer

    producer = Producer(connection.producer_config())
    produce_messages(producer, sends)
    return producer


@dataclass
class _ChunkOutcome:
    replayed: dict[tuple[str, int, int], _Replayed] = field(default_factory=dict)
    requeued: list[KafkaRecord] = field(default_factory=list)
    #: Messages for the parked topic, with the reason when they are not dead letters at all.
    parked: list[tuple[DeadLetterMessage, str | None]] = field(default_factory=list)
    again: list[DeadLetter] = field(default_factory=list)
    loads: list[tuple[str, dict[str, pa.Table]]] = field(default_factory=list)
    duplicates: int = 0


class _Replay:
    def __init__(self, topic: str, targets: ReplayTargets, options: ReplayOptions) -> None:
        self.dlq = dlq_topic(topic)
        self.parked = parked_topic(topic)
        self.targets = targets
        self.options = options
        self.summary = ReplaySummary()
        self._parked_topic_ready = False

    def run(self) -> ReplaySummary:
        from memgraph_pipelines.graph.migrations import apply_migrations

        connection, options = self.targets.connection, self.options
        ranges = pending_ranges(connection, self.dlq, options.group_id)
        if not ranges:
            return self.summary
        apply_migrations(self.targets.driver, self.targets.database)
        spec = BatchSpec(self.dlq, ranges)
        for chunk in read_batch(connection, options.group_id, spec, chunk=options.chunk_size):
            starts: dict[int, int] = {}
            ends: dict[int, int] = {}
            for r in chunk:  # a chunk holds consecutive offsets of each partition
                starts[r.partition] = min(starts.get(r.partition, r.offset), r.offset)
                ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
            body = ",".join(f"{p}={starts[p]}-{ends[p]}" for p in sorted(ends))
            self._replay_chunk(chunk, BATCH_KEY_PREFIX + body)
            # Only now is the chunk handled: a failure before leaves it to the next replay.
            self.summary.committed.update(
                commit_offsets(connection, options.group_id, self.dlq, ends)
            )
        return self.summary

    def _sort(self, chunk: list[KafkaRecord]) -> _ChunkOutcome:
        """Selected dead letters decrypted and rebuilt with their original provenance; the
        others re-queued; messages that are not dead letters parked as they are."""
        out = _ChunkOutcome()
        selects = self.options.filter.selects
        for record in chunk:
            try:
                headers = parse_dead_letter(record.headers)
            except InvalidDeadLetterError:
                if selects(None, record.timestamp_ms):
                    message = DeadLetterMessage(record.key, record.value, list(record.headers))
                    out.parked.append((message, "invalid_dead_letter_headers"))
                else:
                    out.requeued.append(record)
                continue
            if not selects(headers.failure_reason, record.timestamp_ms):
                out.requeued.append(record)
                continue
            position = (headers.original_topic, headers.original_partition, headers.original_offset)
            if position in out.replayed:
                out.duplicates += 1
                continue
            value = decrypt_dead_letter_value(record.value, headers, self.targets.kek)
            original = KafkaRecord(
                *position, record.key, value, record.timestamp_ms, _producer_headers(record.headers)
            )
            out.replayed[position] = _Replayed(record, headers, original)
        return out

    def _decide(self, out: _ChunkOutcome) -> None:
        """Decode and validate the replayed records again: tables to load, the rest to the DLQ
        again or, out of retries, to the parked topic."""
        from memgraph_pipelines.telemetry.decode import decode_records

        kek = self.targets.kek
        for topic in sorted({position[0] for position in out.replayed}):
            records = [r.original for p, r in out.replayed.items() if p[0] == topic]
            decoded = decode_records(records)
            out.duplicates += decoded.duplicates
            tables, failures = decoded.tables, list(decoded.dead_letters)
            if self.options.validation is not None:
                tables, invalid = _validation_dead_letters(
                    tables, self.options.validation, out.replayed, topic
                )
                failures += invalid
            for dl in failures:
                entry = out.replayed[(topic, dl.record.partition, dl.record.offset)]
                retried = _again(dl, entry)
                if entry.headers.retry_count >= self.options.max_retries:
                    out.parked.append((build_dead_letter_message(retried, kek=kek), None))
                else:
                    out.again.append(retried)
            out.loads.append((topic, tables))

    def _replay_chunk(self, chunk: list[KafkaRecord], batch_key: str) -> None:
        out = self._sort(chunk)
        self._decide(out)
        # Load first: a load that fails then leaves no extra copies on the DLQ behind it.
        loaded = sum(self._load(topic, tables, batch_key) for topic, tables in out.loads)
        # Re-queued unchanged, DLQ timestamp kept, so a later --since still sees it as it was.
        sends = [
            (self.dlq, DeadLetterMessage(r.key, r.value, list(r.headers)), r.timestamp_ms)
            for r in out.requeued
        ]
        if out.parked and not self._parked_topic_ready:
            partitions = len(watermarks(self.targets.connection.admin(), self.dlq)[1])
            ensure_topic(self.targets.connection, self.parked, partitions)
            self._parked_topic_ready = True
        sends += [(self.parked, _parked_message(m, reason), 0) for m, reason in out.parked]
        producer = _produce(self.targets.connection, sends)
        again = produce_dead_letters(producer, self.dlq, out.again, kek=self.targets.kek)

        accounted = loaded + len(sends) + out.duplicates + sum(again.values())
        if accounted != len(chunk):
            raise RuntimeError(
                f"replay accounting mismatch in {batch_key}: {len(chunk)} read, {accounted} "
                "accounted for"
            )
        s = self.summary
        s.read += len(chunk)
        s.loaded += loaded
        s.skipped_by_filter += len(out.requeued)
        s.parked += len(out.parked)
        s.duplicates += out.duplicates
        s.dead_lettered_again.update(again)

    def _load(self, topic: str, tables: dict[str, pa.Table], batch_key: str) -> int:
        from memgraph_pipelines.graph.loader import load_batch
        from memgraph_pipelines.vault.protect import protect_tables

        count = loaded_event_count(tables)
        if count:
            t = self.targets
            protected = protect_tables(tables, kek=t.kek, store=t.store, hmac_secret=t.hmac_secret)
            load_batch(
                t.driver,
                t.database,
                protected.tables,
                source_topic=topic,
                batch_key=batch_key,
                ingested_at_ms=int(time.time() * 1000),
                chunk_size=self.options.load_chunk_size,
                writers=self.options.load_writers,
            )
        return count


def replay_dead_letters(
    topic: str, targets: ReplayTargets, options: ReplayOptions | None = None
) -> ReplaySummary:
    """Replay the pending dead letters of ``topic`` (its ``-dlq`` twin); see the module doc."""
    return _Replay(topic, targets, options or ReplayOptions()).run()
