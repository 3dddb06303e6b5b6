"""One batch end to end, in the pipeline's one direction: Kafka range -> Arrow -> checks ->
vault -> (staging) -> graph. Plain module: the Dagster assets and the benchmark both call it.

``stage_batch`` returns what is staged as Parquet: tables in which no sensitive text is left.
Dead letters are produced (and flushed) before it returns, so a batch never completes with a
record unaccounted for: read = loaded + dead-lettered + duplicates.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from memgraph_pipelines.kafka.ranges import BatchSpec
from memgraph_pipelines.kafka.records import KafkaRecord
from memgraph_pipelines.telemetry.outcome import DeadLetter, FailureReason

#: Offsets are below 2**40 in any real topic; partition and offset then fit one int64 key.
_OFFSET_BITS = 40


@dataclass
class StagedBatch:
    """What one batch leaves in staging, and its accounting."""

    key: str
    tables: dict[str, pa.Table]
    read: int
    duplicates: int
    dead_lettered: dict[str, int]
    vaulted: int
    bytes_read: int
    seconds: dict[str, float] = field(default_factory=dict)
    validation: dict | None = None

    @property
    def to_load(self) -> int:
        return self.read - self.duplicates - sum(self.dead_lettered.values())

    def manifest(self) -> dict:
        return {
            "key": self.key,
            "read": self.read,
            "duplicates": self.duplicates,
            "dead_lettered": dict(self.dead_lettered),
            "vaulted": self.vaulted,
            "bytes_read": self.bytes_read,
            "seconds": dict(self.seconds),
            "validation": self.validation,
        }

    @classmethod
    def from_manifest(cls, manifest: dict, tables: dict[str, pa.Table]) -> StagedBatch:
        return cls(
            key=manifest["key"],
            tables=tables,
            read=manifest["read"],
            duplicates=manifest["duplicates"],
            dead_lettered=dict(manifest["dead_lettered"]),
            vaulted=manifest["vaulted"],
            bytes_read=manifest["bytes_read"],
            seconds=dict(manifest.get("seconds") or {}),
            validation=manifest.get("validation"),
        )


@dataclass
class BatchStages:
    """The outside systems one batch talks to, already configured."""

    read: Callable[[BatchSpec], Iterator[list[KafkaRecord]]]
    send_dead_letters: Callable[[list[DeadLetter]], Counter[str]]
    protect: Callable[[dict[str, pa.Table]], tuple[dict[str, pa.Table], int]]
    #: Returns (report metadata, failing (partition, offset) -> expectation names); None skips.
    validate: Callable[[dict[str, pa.Table]], tuple[dict, dict[tuple[int, int], list[str]]]] | None
    max_text_chars: int = 1_000_000


def _record_keys(table: pa.Table) -> pa.Array:
    partition = pc.cast(table["source_partition"], pa.int64())
    return pc.add(pc.shift_left(partition, _OFFSET_BITS), table["source_offset"])


def drop_records(tables: dict[str, pa.Table], records: set[tuple[int, int]]) -> dict[str, pa.Table]:
    """Remove every row that came from one of ``records`` ((partition, offset)), in all tables:
    an event that fails validation leaves the batch whole."""
    if not records:
        return tables
    keys = pa.array([(p << _OFFSET_BITS) + o for p, o in records], pa.int64())
    return {
        name: t.filter(pc.invert(pc.is_in(_record_keys(t), value_set=keys))) if t.num_rows else t
        for name, t in tables.items()
    }


def _validation_dead_letters(
    failures: dict[tuple[int, int], list[str]],
    by_position: dict[tuple[int, int], KafkaRecord],
    tables: dict[str, pa.Table],
) -> list[DeadLetter]:
    known_plain = set()  # text rows known to be public/internal need no encryption
    for name in ("prompts", "responses"):
        t = tables[name]
        if t.num_rows:
            plain = t.filter(pc.invert(t["has_sensitive_content"]))
            partitions = plain["source_partition"].to_pylist()
            known_plain.update(zip(partitions, plain["source_offset"].to_pylist(), strict=True))
    return [
        DeadLetter(
            record=by_position[position],
            reason=FailureReason.VALIDATION_FAILED,
            detail="failed expectations: " + ", ".join(sorted(set(names))),
            sensitive=position not in known_plain,
            classification=None,
        )
        for position, names in sorted(failures.items())
    ]


def stage_batch(spec: BatchSpec, stages: BatchStages) -> StagedBatch:
    from memgraph_pipelines.telemetry.decode import decode_records

    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    records = [r for chunk in stages.read(spec) for r in chunk]
    seconds["read"] = time.perf_counter() - clock
    if len(records) != spec.size:
        raise RuntimeError(f"read {len(records)} records for a batch of {spec.size}: {spec.key}")
    bytes_read = sum(len(r.value or b"") + len(r.key or b"") for r in records)

    clock = time.perf_counter()
    decoded = decode_records(records, max_text_chars=stages.max_text_chars)
    seconds["decode"] = time.perf_counter() - clock
    tables = decoded.tables
    dead_letters = list(decoded.dead_letters)

    report = None
    if stages.validate is not None:
        clock = time.perf_counter()
        report, failures = stages.validate(tables)
        if failures:
            by_position = {(r.partition, r.offset): r for r in records}
            dead_letters.extend(_validation_dead_letters(failures, by_position, tables))
            tables = drop_records(tables, set(failures))
        seconds["validate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    dead_lettered = stages.send_dead_letters(dead_letters) if dead_letters else Counter()
    seconds["dead_letter"] = time.perf_counter() - clock

    clock = time.perf_counter()
    tables, vaulted = stages.protect(tables)
    seconds["encrypt"] = time.perf_counter() - clock

    return StagedBatch(
        key=spec.key,
        tables=tables,
        read=len(records),
        duplicates=decoded.duplicates,
        dead_lettered=dict(dead_lettered),
        vaulted=vaulted,
        bytes_read=bytes_read,
        seconds=seconds,
        validation=report,
    )


def loaded_event_count(tables: dict[str, pa.Table]) -> int:
    """Distinct source records among the staged rows: the events a load puts in the graph."""
    keys = [_record_keys(t) for t in tables.values() if t.num_rows]
    if not keys:
        return 0
    return len(pc.unique(pa.chunked_array(keys)))
