"""Observatory event types (SPEC §2.3) and the table rows each one becomes. Plain module.

Every builder takes the validated envelope and the snake_case payload and returns
``(table name, row)`` pairs; a row is a tuple in the column order of its schema in
telemetry.schemas, provenance last. Builders raise ``RecordError`` for a bad field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memgraph_pipelines.telemetry.classify import classify, is_sensitive
from memgraph_pipelines.telemetry.normalize import (
    RecordError,
    read_amount,
    read_choice,
    read_count,
    read_flag,
    read_id,
    read_number,
    read_object,
    read_str,
)
from memgraph_pipelines.telemetry.outcome import FailureReason

INVOCATION_START = "llm.invocation.start"
INVOCATION_COMPLETE = "llm.invocation.complete"
INVOCATION_ERROR = "llm.invocation.error"
TOKENS_CONSUMED = "llm.tokens.consumed"
LATENCY_MEASURED = "llm.latency.measured"
ERROR_OCCURRED = "llm.error.occurred"
PROMPT_SUBMITTED = "llm.prompt.submitted"
RESPONSE_GENERATED = "llm.response.generated"

INVOCATION_STATUSES = frozenset({"success", "error", "timeout"})
METRIC_TYPES = frozenset({"latency", "ttft", "throughput"})
SEVERITIES = frozenset({"low", "medium", "high", "critical"})
FINISH_REASONS = frozenset({"stop", "length", "content_filter", "function_call", "error"})

Row = tuple[Any, ...]
TableRows = list[tuple[str, Row]]


@dataclass(frozen=True, slots=True)
class Envelope:
    event_id: str
    event_type: str
    schema_version: str
    ts_ms: int
    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    metadata: dict[str, Any]
    #: Where the payload fields live, for details: "payload." (v2) or "" (flat legacy v1).
    prefix: str
    source_partition: int
    source_offset: int


def _too_long(field: str, text: str, max_text_chars: int) -> RecordError:
    return RecordError(
        FailureReason.TOO_LARGE,
        f"{field} has {len(text)} characters, over the limit of {max_text_chars}",
    )


def _declared(payload: dict[str, Any], env: Envelope) -> str | None:
    """payload.classification, else metadata.classification; a non-string reads as unknown."""
    value = payload.get("classification")
    if value is None:
        value = env.metadata.get("classification")
    if value is None or type(value) is str:
        return value
    return ""


def _invocation_row(env: Envelope, payload: dict[str, Any], status: str) -> Row:
    p = env.prefix
    model_id = read_id(payload, "model_id", p, required=True)
    invocation_id = read_id(payload, "invocation_id", p) or env.event_id
    return (
        env.event_id,
        invocation_id,
        env.event_type,
        env.schema_version,
        env.ts_ms,
        status,
        model_id,
        read_str(payload, "provider", p),
        read_str(payload, "session_id", p),
        read_str(payload, "user_id", p),
        read_str(payload, "prompt_event_id", p),
        read_str(payload, "response_event_id", p),
        read_count(payload, "token_count", p),
        read_count(payload, "prompt_tokens", p),
        read_count(payload, "completion_tokens", p),
        read_amount(payload, "latency_ms", p),
        read_amount(payload, "cost_usd", p),
        env.trace_id,
        env.span_id,
        env.parent_span_id,
        env.source_partition,
        env.source_offset,
    )


def _error_row(env: Envelope, payload: dict[str, Any], invocation_id: str | None) -> Row:
    p = env.prefix
    return (
        env.event_id,
        invocation_id,
        env.ts_ms,
        read_str(payload, "error_type", p),
        read_str(payload, "message", p),
        read_choice(payload, "severity", p, SEVERITIES),
        read_flag(payload, "recoverable", p),
        env.source_partition,
        env.source_offset,
    )


def invocation_start(env: Envelope, payload: dict[str, Any], max_text_chars: int) -> TableRows:
    return [("invocations", _invocation_row(env, payload, "started"))]


def invocation_complete(env: Envelope, payload: dict[str, Any], max_text_chars: int) -> TableRows:
    status = read_choice(payload, "status", env.prefix, INVOCATION_STATUSES, required=True)
    return [("invocations", _invocation_row(env, payload, status or ""))]


def invocation_error(env: Envelope, payload: dict[str, Any], max_text_chars: int) -> TableRows:
    invocation = _invocation_row(env, payload, "error")
    return [("invocations", invocation), ("errors", _error_row(env, payload, invocation[1]))]


def tokens_consumed(env: Envelope, payload: dict[str, Any], max_text_chars: int) -> TableRows:
    p = env.prefix
    row = (
        env.event_id,
        read_id(payload, "invocation_id", p, required=True),
        env.ts_ms,
        read_count(payload, "prompt_tokens", p),
        read_count(payload, "completion_tokens", p),
        read_count(payload, "total_tokens", p),  # kept as given: never derived
        env.source_partition,
        env.source_offset,
    )
    return [("token_updates", row)]


def latency_measured(env: Envelope, payload: dict[str, Any], max_text_chars: int) -> TableRows:
    p = env.prefix
    invocation_id = read_id(payload, "invocation_id", p, required=True)
    metric_type = read_choice(payload, "metric_type", p, METRIC_TYPES, required=True)
    value = read_amount(payload, "value", p, required=True)
    percentile = read_number(payload, "percentile", p)
    if percentile is not None and not 0 <= percentile <= 100:
        raise RecordError(FailureReason.INVALID_VALUE, f"{p}percentile must be between 0 and 100")
    row = (
        env.event_id,
        invocation_id,
        env.ts_ms,
        metric_type,
        value,
        percentile,
        env.source_partition,
        env.source_offset,
    )
    return [("metrics", row)]


def error_occurred(env: Envelope, payload: dict[str, Any], max_text_chars: int) -> TableRows:
    p = env.prefix
    invocation_id = read_id(payload, "invocation_id", p)
    read_id(payload, "error_type", p, required=True)
    return [("errors", _error_row(env, payload, invocation_id))]


def _text_columns(classification: str, text: str | None) -> Row:
    """classification, text, text_length, content_ref, text_hmac, has_sensitive_content.
    content_ref and text_hmac are filled later by the vault stage."""
    length = None if text is None else len(text)
    return (classification, text, length, None, None, is_sensitive(classification))


def prompt_submitted(env: Envelope, payload: dict[str, Any], max_text_chars: int) -> TableRows:
    p = env.prefix
    prompt = read_object(payload, "prompt", p)
    if prompt is None:
        raise RecordError(FailureReason.MISSING_FIELD, f"{p}prompt.text is required")
    text = read_str(prompt, "text", f"{p}prompt.", required=True) or ""
    if len(text) > max_text_chars:
        raise _too_long(f"{p}prompt.text", text, max_text_chars)
    template = read_str(prompt, "template", f"{p}prompt.")
    session = read_object(payload, "session", p)
    if session is None:
        raise RecordError(FailureReason.MISSING_FIELD, f"{p}session.id is required")
    model = read_object(payload, "model", p)
    if model is None:
        raise RecordError(FailureReason.MISSING_FIELD, f"{p}model.id is required")
    session_p, model_p = f"{p}session.", f"{p}model."
    # The template is stored on the node as is, so PII in it must raise the level too.
    classification = classify(_declared(payload, env), (text, template or ""))
    row = (
        env.event_id,
        env.ts_ms,
        template,
        read_id(session, "id", session_p, required=True),
        read_str(session, "user_id", session_p),
        read_str(session, "application_id", session_p),
        read_str(session, "purpose", session_p),
        read_id(model, "id", model_p, required=True),
        read_str(model, "provider", model_p),
        read_count(prompt, "token_count", f"{p}prompt."),
        *_text_columns(classification, text),
        env.source_partition,
        env.source_offset,
    )
    return [("prompts", row)]


def response_generated(env: Envelope, payload: dict[str, Any], max_text_chars: int) -> TableRows:
    p = env.prefix
    prompt_event_id = read_id(payload, "prompt_event_id", p, required=True)
    response = read_object(payload, "response", p) or {}
    text = read_str(response, "text", f"{p}response.")
    if text is not None and len(text) > max_text_chars:
        raise _too_long(f"{p}response.text", text, max_text_chars)
    usage = read_object(payload, "usage", p) or {}
    metrics = read_object(payload, "metrics", p) or {}
    usage_p, metrics_p = f"{p}usage.", f"{p}metrics."
    classification = classify(_declared(payload, env), (text,) if text else ())
    row = (
        env.event_id,
        env.ts_ms,
        prompt_event_id,
        read_choice(response, "finish_reason", f"{p}response.", FINISH_REASONS),
        read_count(usage, "prompt_tokens", usage_p),
        read_count(usage, "completion_tokens", usage_p),
        read_count(usage, "total_tokens", usage_p),
        read_amount(metrics, "latency_ms", metrics_p),
        read_amount(metrics, "ttft_ms", metrics_p),
        read_amount(metrics, "cost_usd", metrics_p),
        *_text_columns(classification, text),
        env.source_partition,
        env.source_offset,
    )
    return [("responses", row)]


RowBuilder = Callable[[Envelope, dict[str, Any], int], TableRows]

#: Event type -> row builder. The keys are the event types SPEC §2.3 accepts.
BUILDERS: dict[str, RowBuilder] = {
    INVOCATION_START: invocation_start,
    INVOCATION_COMPLETE: invocation_complete,
    INVOCATION_ERROR: invocation_error,
    TOKENS_CONSUMED: tokens_consumed,
    LATENCY_MEASURED: latency_measured,
    ERROR_OCCURRED: error_occurred,
    PROMPT_SUBMITTED: prompt_submitted,
    RESPONSE_GENERATED: response_generated,
}
EVENT_TYPES = frozenset(BUILDERS)
