"""What decoding and validation make of a range of records. Plain module.

Every record read ends in exactly one of three places: a row of a staged table (loaded), a
``DeadLetter`` (with a machine reason, SPEC §2.4), or the duplicate count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa

from memgraph_pipelines.kafka.records import KafkaRecord


class FailureReason(StrEnum):
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    TOO_LARGE = "too_large"
    VALIDATION_FAILED = "validation_failed"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: KafkaRecord
    reason: FailureReason
    #: Human text for ``x-failure-detail``. Never contains prompt or response text.
    detail: str
    #: True when the record is sensitive (SPEC §4.1) or could not be parsed well enough to tell;
    #: its DLQ value is then envelope-encrypted.
    sensitive: bool
    #: Classification level when known (``None`` when it could not be told).
    classification: str | None = None
    retry_count: int = 0


@dataclass
class DecodedBatch:
    #: Entity name -> Arrow table (schemas in telemetry.schemas). Text columns hold plaintext
    #: until vault.protect replaces sensitive text with a vault reference.
    tables: dict[str, pa.Table]
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: Records whose event_id was already seen earlier in the same range.
    duplicates: int = 0
    read: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        """Records that became table rows (one event may feed two tables)."""
        return self.read - len(self.dead_letters) - self.duplicates
