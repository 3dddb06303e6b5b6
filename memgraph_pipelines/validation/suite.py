"""The expectation suite of the staged Observatory tables, as data. Plain module, no GX import.

Each ``ExpectationSpec`` names one Great Expectations column expectation; ``runner`` turns the
specs into GX expectations and ``prechecks`` evaluates the same specs with ``pyarrow.compute``.
Expectation names (``<table>.<column>.<rule>``) are stable: they go into the DLQ header
``x-failure-detail`` and into asset-check metadata.

Conventions shared by both engines:

- Null values pass every rule except ``NOT_NULL`` (optional fields are optional).
- ``non_negative`` means finite and >= 0: the upper bound is the largest float, and a NaN is
  presented to the engine as +inf (pandas would otherwise count NaN as missing and skip it).
- ``equals_prompt_plus_completion`` compares a total with the derived column
  ``PROMPT_PLUS_COMPLETION`` (null unless both parts are non-null).
- ``MODEL_ID_REGEX``: lower-case Registry ids such as ``gpt-4o``, ``claude-3-5-sonnet``,
  ``llama-3-70b``, ``gemini-1-5-pro``: a letter or digit, then up to 127 of ``[a-z0-9._:-]``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Check(StrEnum):
    """Supported rules; the values are the GX expectation type names."""

    NOT_NULL = "expect_column_values_to_not_be_null"
    UNIQUE = "expect_column_values_to_be_unique"
    BETWEEN = "expect_column_values_to_be_between"
    IN_SET = "expect_column_values_to_be_in_set"
    MATCHES_REGEX = "expect_column_values_to_match_regex"
    PAIR_EQUAL = "expect_column_pair_values_to_be_equal"


@dataclass(frozen=True, slots=True)
class Param:
    """A bound resolved per batch from ``ValidationConfig`` (a GX suite parameter)."""

    name: str


Bound = int | float | Param | None


@dataclass(frozen=True, slots=True)
class ExpectationSpec:
    name: str
    table: str
    check: Check
    column: str
    #: Second column of a ``PAIR_EQUAL`` rule.
    other_column: str | None = None
    min_value: Bound = None
    max_value: Bound = None
    value_set: tuple[str, ...] = ()
    #: Python-flavoured, anchored with ``^`` and ``\\Z`` (``$`` would accept a trailing newline).
    regex: str | None = None


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    timestamp_floor: datetime = datetime(2020, 1, 1, tzinfo=UTC)
    future_skew: timedelta = timedelta(days=1)
    #: Fixed "now" in epoch ms (tests); ``None`` means the wall clock at validation time.
    now_ms: int | None = None
    max_text_chars: int = 1_000_000
    #: Largest share of failed rows a batch may have and still pass its check.
    failure_threshold: float = 0.05

    def __post_init__(self) -> None:
        # A naive floor would silently be read in the host's local time zone.
        if self.timestamp_floor.tzinfo is None:
            raise ValueError("timestamp_floor must carry a time zone")
        if not 0.0 <= self.failure_threshold <= 1.0:
            raise ValueError("failure_threshold must be a share between 0 and 1")


TS_FLOOR = Param("ts_floor_ms")
TS_CEILING = Param("ts_ceiling_ms")
MAX_TEXT_CHARS = Param("max_text_chars")

#: Derived per row: prompt_tokens + completion_tokens, null when either is null.
PROMPT_PLUS_COMPLETION = "prompt_plus_completion_tokens"

FLOAT_MAX = sys.float_info.max
MODEL_ID_REGEX = r"^[a-z0-9][a-z0-9._:-]{0,127}\Z"
STATUSES = ("started", "success", "error", "timeout")
FINISH_REASONS = ("stop", "length", "content_filter", "function_call", "error")
SEVERITIES = ("low", "medium", "high", "critical")
METRIC_TYPES = ("latency", "ttft", "throughput")
CLASSIFICATIONS = ("public", "internal", "confidential", "restricted", "pii")


def suite_parameters(config: ValidationConfig, wall_clock_ms: int) -> dict[str, int]:
    """Values of the ``Param`` bounds for one batch."""
    now_ms = config.now_ms if config.now_ms is not None else wall_clock_ms
    return {
        TS_FLOOR.name: int(config.timestamp_floor.timestamp() * 1000),
        TS_CEILING.name: now_ms + int(config.future_skew.total_seconds() * 1000),
        MAX_TEXT_CHARS.name: config.max_text_chars,
    }


def _not_null(table: str, column: str) -> ExpectationSpec:
    return ExpectationSpec(f"{table}.{column}.not_null", table, Check.NOT_NULL, column)


def _unique(table: str, column: str) -> ExpectationSpec:
    return ExpectationSpec(f"{table}.{column}.unique", table, Check.UNIQUE, column)


def _non_negative(table: str, column: str) -> ExpectationSpec:
    return ExpectationSpec(
        f"{table}.{column}.non_negative",
        table,
        Check.BETWEEN,
        column,
        min_value=0,
        max_value=FLOAT_MAX,
    )


def _in_set(table: str, column: str, values: tuple[str, ...]) -> ExpectationSpec:
    return ExpectationSpec(
        f"{table}.{column}.in_set", table, Check.IN_SET, column, value_set=values
    )


def _ts_window(table: str) -> ExpectationSpec:
    return ExpectationSpec(
        f"{table}.ts_ms.within_window",
        table,
        Check.BETWEEN,
        "ts_ms",
        min_value=TS_FLOOR,
        max_value=TS_CEILING,
    )


def _model_id_form(table: str) -> ExpectationSpec:
    return ExpectationSpec(
        f"{table}.model_id.registry_form",
        table,
        Check.MATCHES_REGEX,
        "model_id",
        regex=MODEL_ID_REGEX,
    )


def _total_is_sum(table: str, column: str) -> ExpectationSpec:
    return ExpectationSpec(
        f"{table}.{column}.equals_prompt_plus_completion",
        table,
        Check.PAIR_EQUAL,
        column,
        other_column=PROMPT_PLUS_COMPLETION,
    )


def _text_length(table: str) -> ExpectationSpec:
    return ExpectationSpec(
        f"{table}.text_length.within_max_chars",
        table,
        Check.BETWEEN,
        "text_length",
        min_value=0,
        max_value=MAX_TEXT_CHARS,
    )


def _keyed(table: str, *required: str) -> list[ExpectationSpec]:
    """Key rules every table shares: event_id present and unique, required refs present."""
    return [
        _not_null(table, "event_id"),
        _unique(table, "event_id"),
        *(_not_null(table, column) for column in required),
        _ts_window(table),
    ]


def _counts(table: str, *columns: str) -> list[ExpectationSpec]:
    return [_non_negative(table, column) for column in columns]


# invocation_id may repeat (start/complete/error share it), so only event_id is unique.
SUITE: dict[str, tuple[ExpectationSpec, ...]] = {
    "invocations": (
        *_keyed("invocations", "invocation_id", "model_id"),
        _in_set("invocations", "status", STATUSES),
        _model_id_form("invocations"),
        *_counts(
            "invocations",
            "token_count",
            "prompt_tokens",
            "completion_tokens",
            "latency_ms",
            "cost_usd",
        ),
        _total_is_sum("invocations", "token_count"),
    ),
    "token_updates": (
        *_keyed("token_updates", "invocation_id"),
        *_counts("token_updates", "prompt_tokens", "completion_tokens", "total_tokens"),
        _total_is_sum("token_updates", "total_tokens"),
    ),
    "metrics": (
        *_keyed("metrics", "invocation_id", "value"),
        _in_set("metrics", "metric_type", METRIC_TYPES),
        *_counts("metrics", "value", "percentile"),
    ),
    "errors": (
        *_keyed("errors"),
        _in_set("errors", "severity", SEVERITIES),
    ),
    "prompts": (
        *_keyed("prompts", "session_id", "model_id"),
        _model_id_form("prompts"),
        _in_set("prompts", "classification", CLASSIFICATIONS),
        *_counts("prompts", "token_count"),
        _text_length("prompts"),
    ),
    "responses": (
        *_keyed("responses", "prompt_event_id"),
        _in_set("responses", "finish_reason", FINISH_REASONS),
        _in_set("responses", "classification", CLASSIFICATIONS),
        *_counts(
            "responses",
            "prompt_tokens",
            "completion_tokens",
            "token_count",
            "latency_ms",
            "ttft_ms",
            "cost_usd",
        ),
        _total_is_sum("responses", "token_count"),
        _text_length("responses"),
    ),
}

EXPECTATION_NAMES: frozenset[str] = frozenset(
    spec.name for specs in SUITE.values() for spec in specs
)


def referenced_columns(table: str) -> list[str]:
    """Columns the suite of ``table`` reads (derived ones included), event_id first."""
    names = ["event_id"]
    for spec in SUITE[table]:
        for column in (spec.column, spec.other_column):
            if column and column not in names:
                names.append(column)
    return names
