"""Arrow schemas of the decoded, staged Observatory tables: one table per entity.

These schemas are the contract between decoding (telemetry.decode), protection of sensitive
text (vault.protect), validation, Parquet staging and the graph load (graph.loader).
Timestamps travel as epoch milliseconds (UTC, int64); Cypher turns them into DateTime values.

Every table carries its provenance: ``source_partition`` and ``source_offset`` of the Kafka
record it came from. The topic and batch key are batch-wide and travel beside the tables.
"""

from __future__ import annotations

import pyarrow as pa

STR = pa.string()
I64 = pa.int64()
F64 = pa.float64()
BOOL = pa.bool_()

_PROVENANCE = [
    pa.field("source_partition", pa.int32(), nullable=False),
    pa.field("source_offset", I64, nullable=False),
]

#: llm.invocation.start / .complete / .error and legacy v1 records: one row per event.
INVOCATIONS = pa.schema(
    [
        pa.field("event_id", STR, nullable=False),
        pa.field("invocation_id", STR, nullable=False),  # payload.invocation_id, else event_id
        pa.field("event_type", STR, nullable=False),
        pa.field("schema_version", STR, nullable=False),  # "1" or "2"
        pa.field("ts_ms", I64, nullable=False),
        pa.field("status", STR),  # started | success | error | timeout (lower case)
        pa.field("model_id", STR),
        pa.field("provider", STR),
        pa.field("session_id", STR),
        pa.field("user_id", STR),
        pa.field("prompt_event_id", STR),
        pa.field("response_event_id", STR),
        pa.field("token_count", I64),
        pa.field("prompt_tokens", I64),
        pa.field("completion_tokens", I64),
        pa.field("latency_ms", F64),
        pa.field("cost_usd", F64),
        pa.field("trace_id", STR),
        pa.field("span_id", STR),
        pa.field("parent_span_id", STR),
        *_PROVENANCE,
    ]
)

#: llm.tokens.consumed
TOKEN_UPDATES = pa.schema(
    [
        pa.field("event_id", STR, nullable=False),
        pa.field("invocation_id", STR, nullable=False),
        pa.field("ts_ms", I64, nullable=False),
        pa.field("prompt_tokens", I64),
        pa.field("completion_tokens", I64),
        pa.field("total_tokens", I64),
        *_PROVENANCE,
    ]
)

#: llm.latency.measured
METRICS = pa.schema(
    [
        pa.field("event_id", STR, nullable=False),
        pa.field("invocation_id", STR, nullable=False),
        pa.field("ts_ms", I64, nullable=False),
        pa.field("metric_type", STR, nullable=False),  # latency | ttft | throughput
        pa.field("value", F64, nullable=False),
        pa.field("percentile", F64),
        *_PROVENANCE,
    ]
)

#: llm.error.occurred, and the Error half of llm.invocation.error
ERRORS = pa.schema(
    [
        pa.field("event_id", STR, nullable=False),
        pa.field("invocation_id", STR),
        pa.field("ts_ms", I64, nullable=False),
        pa.field("error_type", STR),
        pa.field("message", STR),
        pa.field("severity", STR),  # low | medium | high | critical
        pa.field("recoverable", BOOL),
        *_PROVENANCE,
    ]
)

#: Columns shared by prompts and responses for the text and its protection.
#: Before protection ``text`` holds the plaintext; after it (what is staged) a sensitive row has
#: ``text`` null and ``content_ref`` set. ``text_hmac`` is set for every non-null text.
_TEXT = [
    pa.field("classification", STR, nullable=False),  # public|internal|confidential|restricted|pii
    pa.field("text", STR),
    pa.field("text_length", I64),
    pa.field("content_ref", STR),
    pa.field("text_hmac", STR),
    pa.field("has_sensitive_content", BOOL, nullable=False),
]

#: llm.prompt.submitted
PROMPTS = pa.schema(
    [
        pa.field("event_id", STR, nullable=False),
        pa.field("ts_ms", I64, nullable=False),
        pa.field("template", STR),
        pa.field("session_id", STR, nullable=False),
        pa.field("user_id", STR),
        pa.field("application_id", STR),
        pa.field("purpose", STR),
        pa.field("model_id", STR, nullable=False),
        pa.field("provider", STR),
        pa.field("token_count", I64),
        *_TEXT,
        *_PROVENANCE,
    ]
)

#: llm.response.generated
RESPONSES = pa.schema(
    [
        pa.field("event_id", STR, nullable=False),
        pa.field("ts_ms", I64, nullable=False),
        pa.field("prompt_event_id", STR, nullable=False),
        pa.field("finish_reason", STR),  # stop | length | content_filter | function_call | error
        pa.field("prompt_tokens", I64),
        pa.field("completion_tokens", I64),
        pa.field("token_count", I64),  # usage.total_tokens
        pa.field("latency_ms", F64),
        pa.field("ttft_ms", F64),
        pa.field("cost_usd", F64),
        *_TEXT,
        *_PROVENANCE,
    ]
)

#: Entity name -> schema. The names are the staged Parquet file names.
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "invocations": INVOCATIONS,
    "token_updates": TOKEN_UPDATES,
    "metrics": METRICS,
    "errors": ERRORS,
    "prompts": PROMPTS,
    "responses": RESPONSES,
}

#: Which tables hold protected text.
TEXT_TABLES = ("prompts", "responses")


def empty_tables() -> dict[str, pa.Table]:
    return {name: schema.empty_table() for name, schema in TABLE_SCHEMAS.items()}
