"""Observatory telemetry records -> Arrow tables (SPEC §2.1-2.4). Plain module.

Each record ends as rows of the tables in telemetry.schemas, as a ``DeadLetter``, or as a
duplicate (an event_id already accepted earlier in the same call; the first one wins).

Choices where SPEC is silent:
- A null (tombstone) or empty value is ``invalid_json``: there is no JSON to read.
- A record with no ``schema_version`` is legacy v1 when it has no ``payload`` key, else v2.
  A v1 record's payload fields are its top-level fields, for any event type.
- ``schema_version`` may be the string or the integer 1 or 2; it is stored as a string.
- Details name the field and the rule, never a value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

from memgraph_pipelines.kafka.records import KafkaRecord
from memgraph_pipelines.telemetry.classify import classify, is_sensitive
from memgraph_pipelines.telemetry.event_types import BUILDERS, Envelope, Row, TableRows
from memgraph_pipelines.telemetry.normalize import (
    RecordError,
    declared_classification,
    iter_strings,
    read_object,
    read_str,
    snake_keys,
)
from memgraph_pipelines.telemetry.outcome import DeadLetter, DecodedBatch, FailureReason
from memgraph_pipelines.telemetry.schemas import TABLE_SCHEMAS
from memgraph_pipelines.telemetry.timestamps import to_epoch_ms

MAX_EVENT_ID_CHARS = 128
DEFAULT_MAX_TEXT_CHARS = 1_000_000
DEFAULT_MAX_VALUE_BYTES = 10 * 1024 * 1024

_SCHEMA_VERSIONS = {"1": "1", "2": "2", 1: "1", 2: "2"}


def _event_id(top: dict[str, Any]) -> str:
    event_id = read_str(top, "event_id", "", required=True) or ""
    if not event_id.strip() or len(event_id) > MAX_EVENT_ID_CHARS:
        raise RecordError(
            FailureReason.INVALID_VALUE,
            f"event_id must be a non-empty string of at most {MAX_EVENT_ID_CHARS} characters",
        )
    return event_id


def _event_type(top: dict[str, Any]) -> str:
    raw = read_str(top, "event_type", "", required=True) or ""
    event_type = raw.strip().lower()
    if event_type not in BUILDERS:
        raise RecordError(
            FailureReason.UNKNOWN_EVENT_TYPE, "event_type is not one of the SPEC §2.3 event types"
        )
    return event_type


def _schema_version(top: dict[str, Any]) -> str:
    raw = top.get("schema_version")
    if raw is None:
        return "2" if "payload" in top else "1"
    kind = type(raw)
    version = (
        _SCHEMA_VERSIONS.get(raw.strip() if kind is str else raw) if kind in (str, int) else None
    )
    if version is None:
        raise RecordError(FailureReason.INVALID_VALUE, 'schema_version must be "1" or "2"')
    return version


def _timestamp(top: dict[str, Any]) -> int:
    raw = top.get("timestamp")
    if raw is None:
        raise RecordError(FailureReason.MISSING_FIELD, "timestamp is required")
    ts_ms = to_epoch_ms(raw)
    if ts_ms is None:
        raise RecordError(
            FailureReason.INVALID_VALUE,
            "timestamp must be ISO-8601 with an offset or epoch milliseconds (1970-9999)",
        )
    return ts_ms


def _decode_event(
    doc: dict[str, Any], record: KafkaRecord, max_text_chars: int
) -> tuple[Envelope, TableRows]:
    top = snake_keys(doc, "")
    event_id = _event_id(top)
    event_type = _event_type(top)
    schema_version = _schema_version(top)
    ts_ms = _timestamp(top)
    if schema_version == "1" and "payload" not in top:
        payload, prefix = top, ""
    else:
        payload = read_object(top, "payload", "", required=True) or {}
        prefix = "payload."
    env = Envelope(
        event_id=event_id,
        event_type=event_type,
        schema_version=schema_version,
        ts_ms=ts_ms,
        trace_id=read_str(top, "trace_id", ""),
        span_id=read_str(top, "span_id", ""),
        parent_span_id=read_str(top, "parent_span_id", ""),
        metadata=read_object(top, "metadata", "") or {},
        prefix=prefix,
        source_partition=record.partition,
        source_offset=record.offset,
    )
    return env, BUILDERS[event_type](env, payload, max_text_chars)


def _unreadable(record: KafkaRecord, reason: FailureReason, detail: str) -> DeadLetter:
    """A record that could not be parsed far enough to tell its classification."""
    return DeadLetter(record=record, reason=reason, detail=detail, sensitive=True)


def _rejected(record: KafkaRecord, doc: dict[str, Any], error: RecordError) -> DeadLetter:
    level = classify(declared_classification(doc), iter_strings(doc))
    return DeadLetter(
        record=record,
        reason=error.reason,
        detail=error.detail,
        sensitive=is_sensitive(level),
        classification=level,
    )


def _parse(record: KafkaRecord, max_value_bytes: int) -> dict[str, Any] | DeadLetter:
    value = record.value
    if not value:
        return _unreadable(record, FailureReason.INVALID_JSON, "value is empty (null or 0 bytes)")
    if len(value) > max_value_bytes:
        return _unreadable(
            record,
            FailureReason.TOO_LARGE,
            f"value has {len(value)} bytes, over the limit of {max_value_bytes}",
        )
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        # Only the position: orjson's message could quote part of the value.
        where = f" at line {exc.lineno} column {exc.colno}"
        return _unreadable(record, FailureReason.INVALID_JSON, "value is not valid JSON" + where)
    if type(doc) is not dict:
        return _unreadable(record, FailureReason.NOT_AN_OBJECT, "value is JSON but not an object")
    return doc


#: Rows decoded into Python values before they are moved into Arrow: Arrow holds them in a
#: fraction of the memory, so a batch never has all its rows as Python objects at once.
ROWS_PER_CHUNK = 5000


def _table(name: str, table_rows: list[Row]) -> pa.Table:
    schema = TABLE_SCHEMAS[name]
    columns = zip(*table_rows, strict=True)
    arrays = [
        pa.array(column, type=field.type) for column, field in zip(columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _build_tables(chunks: dict[str, list[pa.Table]]) -> dict[str, pa.Table]:
    return {
        name: pa.concat_tables(chunks[name]) if chunks[name] else schema.empty_table()
        for name, schema in TABLE_SCHEMAS.items()
    }


def decode_records(
    records: Iterable[KafkaRecord],
    *,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> DecodedBatch:
    """Decode a range of Observatory records into the six tables of ``TABLE_SCHEMAS``."""
    rows: dict[str, list[Row]] = {name: [] for name in TABLE_SCHEMAS}
    chunks: dict[str, list[pa.Table]] = {name: [] for name in TABLE_SCHEMAS}
    dead_letters: list[DeadLetter] = []
    accepted_ids: set[str] = set()
    events_by_type: Counter[str] = Counter()
    duplicates = read = 0
    for record in records:
        read += 1
        doc = _parse(record, max_value_bytes)
        if isinstance(doc, DeadLetter):
            dead_letters.append(doc)
            continue
        try:
            env, produced = _decode_event(doc, record, max_text_chars)
        except RecordError as error:
            dead_letters.append(_rejected(record, doc, error))
            continue
        if env.event_id in accepted_ids:
            duplicates += 1
            continue
        accepted_ids.add(env.event_id)
        events_by_type[env.event_type] += 1
        for table, row in produced:
            pending = rows[table]
            pending.append(row)
            if len(pending) == ROWS_PER_CHUNK:
                chunks[table].append(_table(table, pending))
                rows[table] = []
    for table, pending in rows.items():
        if pending:
            chunks[table].append(_table(table, pending))
    return DecodedBatch(
        tables=_build_tables(chunks),
        dead_letters=dead_letters,
        duplicates=duplicates,
        read=read,
        events_by_type=events_by_type,
    )
