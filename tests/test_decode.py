"""Decoding Observatory records into Arrow tables (SPEC §2.1-2.4)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from memgraph_pipelines.kafka.records import KafkaRecord
from memgraph_pipelines.telemetry.decode import decode_records
from memgraph_pipelines.telemetry.outcome import DecodedBatch, FailureReason
from memgraph_pipelines.telemetry.schemas import TABLE_SCHEMAS

EXAMPLES = Path("/work/shared/examples/observatory-events.jsonl")
TOPIC = "llm-telemetry-events"


def record(
    value: bytes | dict[str, Any] | None, offset: int = 0, partition: int = 0
) -> KafkaRecord:
    raw = orjson.dumps(value) if isinstance(value, dict) else value
    return KafkaRecord(TOPIC, partition, offset, None, raw, 1_796_029_200_000)


def decode(*values: bytes | dict[str, Any] | None, **limits: int) -> DecodedBatch:
    return decode_records([record(v, offset=i) for i, v in enumerate(values)], **limits)


def rows(batch: DecodedBatch, table: str) -> list[dict[str, Any]]:
    return batch.tables[table].to_pylist()


@pytest.fixture(scope="module")
def example_docs() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in EXAMPLES.read_bytes().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def example_batch(example_docs: list[dict[str, Any]]) -> DecodedBatch:
    return decode_records(
        [record(doc, offset=100 + i, partition=2) for i, doc in enumerate(example_docs)]
    )


def prompt_event(text: str = "Explain UNWIND in Cypher", **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": {"text": text},
        "session": {"id": "sess-1"},
        "model": {"id": "gpt-4o"},
    }
    body.update(payload)
    return {
        "event_id": "p-1",
        "event_type": "llm.prompt.submitted",
        "schema_version": "2",
        "timestamp": "2026-11-30T09:00:00Z",
        "payload": body,
    }


def test_every_table_present_with_its_schema(example_batch: DecodedBatch) -> None:
    assert set(example_batch.tables) == set(TABLE_SCHEMAS)
    for name, table in example_batch.tables.items():
        assert table.schema == TABLE_SCHEMAS[name], name
    empty = decode()
    assert {name: t.num_rows for name, t in empty.tables.items()} == dict.fromkeys(TABLE_SCHEMAS, 0)
    assert all(empty.tables[name].schema == schema for name, schema in TABLE_SCHEMAS.items())


def test_examples_all_load(example_batch: DecodedBatch, example_docs: list[dict]) -> None:
    assert example_batch.dead_letters == []
    assert example_batch.read == len(example_docs) == example_batch.accepted
    counts = {name: t.num_rows for name, t in example_batch.tables.items()}
    assert counts == {
        "invocations": 5,
        "token_updates": 1,
        "metrics": 1,
        "errors": 2,
        "prompts": 3,
        "responses": 1,
    }
    assert example_batch.events_by_type["llm.invocation.complete"] == 3
    assert example_batch.events_by_type["llm.prompt.submitted"] == 3
    assert sum(example_batch.events_by_type.values()) == len(example_docs)


def test_example_prompts(example_batch: DecodedBatch) -> None:
    prompts = {row["event_id"]: row for row in rows(example_batch, "prompts")}
    public = prompts["0b7f6a1e-2f4c-4c53-9a57-3f1d2c9e8a01"]
    assert public["classification"] == "public"
    assert public["has_sensitive_content"] is False
    assert public["ts_ms"] == 1_796_029_200_120
    assert (public["session_id"], public["user_id"], public["application_id"]) == (
        "sess-7c1d",
        "user-042",
        "ide-plugin",
    )
    assert public["text_length"] == len("Explain UNWIND in Cypher")
    assert public["content_ref"] is None and public["text_hmac"] is None
    assert (public["source_partition"], public["source_offset"]) == (2, 100)

    card = prompts["e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e604"]  # camelCase, declared internal
    assert card["classification"] == "pii"
    assert card["has_sensitive_content"] is True
    assert (card["user_id"], card["application_id"]) == ("user-007", "support-bot")
    assert card["ts_ms"] == 1_796_029_260_000

    restricted = prompts["2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d12"]  # level in metadata
    assert restricted["classification"] == "restricted"
    assert restricted["has_sensitive_content"] is True


def test_example_invocations_errors_metrics(example_batch: DecodedBatch) -> None:
    invocations = {row["event_id"]: row for row in rows(example_batch, "invocations")}
    start = invocations["5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c05"]
    assert (start["invocation_id"], start["status"]) == ("inv-31f0", "started")
    complete = invocations["7d2e1c44-8f3b-4f0e-b7a2-5a9c1e2d3f02"]
    assert complete["invocation_id"] == complete["event_id"]
    assert (complete["status"], complete["token_count"], complete["latency_ms"]) == (
        "success",
        183,
        1830.4,
    )
    failed = invocations["0f1a2b3c-4d5e-4f6a-9b7c-8d9e0f1a2b10"]
    assert failed["status"] == "error" and failed["event_type"] == "llm.invocation.error"
    errors = {row["event_id"]: row for row in rows(example_batch, "errors")}
    assert errors[failed["event_id"]]["invocation_id"] == failed["invocation_id"]
    assert errors[failed["event_id"]]["error_type"] == "rate_limit"
    assert errors[failed["event_id"]]["severity"] is None
    occurred = errors["7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e07"]
    assert (occurred["severity"], occurred["recoverable"]) == ("high", True)
    (metric,) = rows(example_batch, "metrics")
    assert (metric["metric_type"], metric["value"], metric["percentile"]) == ("ttft", 2410.0, 95.0)
    (tokens,) = rows(example_batch, "token_updates")
    assert (tokens["prompt_tokens"], tokens["completion_tokens"]) == (58, 0)
    assert tokens["total_tokens"] is None
    (response,) = rows(example_batch, "responses")
    assert (response["finish_reason"], response["token_count"], response["ttft_ms"]) == (
        "stop",
        183,
        212.0,
    )


def test_v1_loads_like_its_v2_twin(example_docs: list[dict[str, Any]]) -> None:
    legacy = next(doc for doc in example_docs if "payload" not in doc)
    envelope = ("event_id", "event_type", "timestamp", "trace_id", "span_id", "metadata")
    twin = {key: legacy[key] for key in envelope if key in legacy}
    twin["schema_version"] = "2"
    twin["payload"] = {key: value for key, value in legacy.items() if key not in envelope}
    (v1,) = rows(decode(legacy), "invocations")
    (v2,) = rows(decode(twin), "invocations")
    assert v1["schema_version"] == "1" and v2["schema_version"] == "2"
    assert v1["status"] == "success"  # SUCCESS, lower-cased
    assert {**v1, "schema_version": "2"} == v2


def test_camel_case_keys_at_every_level() -> None:
    event = {
        "eventId": "r-1",
        "eventType": "LLM.Response.Generated",
        "schemaVersion": "2",
        "timestamp": "2026-11-30T10:00:00.5+01:00",
        "traceId": "t-1",
        "payload": {
            "promptEventId": "p-1",
            "response": {"text": "fine", "finishReason": "STOP"},
            "usage": {"promptTokens": 3, "completionTokens": 4.0, "totalTokens": 7},
            "metrics": {"latencyMs": 12, "ttftMs": 5.5, "costUsd": 0.25},
        },
    }
    batch = decode(event)
    (row,) = rows(batch, "responses")
    assert row["prompt_event_id"] == "p-1" and row["finish_reason"] == "stop"
    assert (row["prompt_tokens"], row["completion_tokens"], row["token_count"]) == (3, 4, 7)
    assert (row["latency_ms"], row["ttft_ms"], row["cost_usd"]) == (12.0, 5.5, 0.25)
    assert row["ts_ms"] == 1_796_029_200_500  # 10:00:00.5+01:00 == 09:00:00.5Z
    assert row["classification"] == "internal"
    assert batch.events_by_type == {"llm.response.generated": 1}


def test_response_without_text() -> None:
    event = prompt_event()
    event["event_type"] = "llm.response.generated"
    event["payload"] = {"prompt_event_id": "p-0", "classification": "confidential"}
    (row,) = rows(decode(event), "responses")
    assert row["text"] is None and row["text_length"] is None
    assert row["classification"] == "confidential" and row["has_sensitive_content"] is True


def test_timestamp_forms() -> None:
    naive = prompt_event()
    naive["timestamp"] = "2026-11-30T09:00:00"  # no offset: read as UTC
    epoch = prompt_event()
    epoch["event_id"], epoch["timestamp"] = "p-2", 1_796_029_200_000
    stamps = [row["ts_ms"] for row in rows(decode(naive, epoch), "prompts")]
    assert stamps == [1_796_029_200_000, 1_796_029_200_000]


def test_duplicates_first_wins_and_accounting() -> None:
    first = prompt_event("first")
    again = prompt_event("second")
    bad_same_id = prompt_event()
    del bad_same_id["payload"]["session"]
    other = prompt_event()
    other["event_id"] = "p-2"
    batch = decode(first, b"not json", again, bad_same_id, None, other, b"[1, 2]")
    assert batch.duplicates == 1
    assert [d.reason for d in batch.dead_letters] == [
        FailureReason.INVALID_JSON,
        FailureReason.MISSING_FIELD,
        FailureReason.INVALID_JSON,
        FailureReason.NOT_AN_OBJECT,
    ]
    assert [row["text"] for row in rows(batch, "prompts")] == ["first", "Explain UNWIND in Cypher"]
    assert batch.read == 7
    loaded = sum(batch.events_by_type.values())
    assert batch.read == loaded + len(batch.dead_letters) + batch.duplicates
    assert batch.accepted == loaded == 2


def _with(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``event`` with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    changed = copy.deepcopy(event)
    *parents, last = path.split(".")
    holder = changed
    for key in parents:
        holder = holder[key]
    if value is ...:
        del holder[last]
    else:
        holder[last] = value
    return changed


LATENCY = {
    "event_id": "m-1",
    "event_type": "llm.latency.measured",
    "timestamp": 1_796_029_200_000,
    "payload": {"invocation_id": "inv-1", "metric_type": "latency", "value": 10},
}
COMPLETE = {
    "event_id": "c-1",
    "event_type": "llm.invocation.complete",
    "timestamp": "2026-11-30T09:00:00Z",
    "payload": {"model_id": "gpt-4o", "status": "timeout"},
}


@pytest.mark.parametrize(
    ("event", "path", "value", "reason", "field"),
    [
        (LATENCY, "event_id", ..., FailureReason.MISSING_FIELD, "event_id"),
        (LATENCY, "event_id", "", FailureReason.INVALID_VALUE, "event_id"),
        (LATENCY, "event_id", "x" * 129, FailureReason.INVALID_VALUE, "event_id"),
        (LATENCY, "event_id", 42, FailureReason.INVALID_VALUE, "event_id"),
        (LATENCY, "event_type", ..., FailureReason.MISSING_FIELD, "event_type"),
        (LATENCY, "event_type", "llm.unknown", FailureReason.UNKNOWN_EVENT_TYPE, "event_type"),
        (LATENCY, "timestamp", ..., FailureReason.MISSING_FIELD, "timestamp"),
        (LATENCY, "timestamp", "yesterday", FailureReason.INVALID_VALUE, "timestamp"),
        (LATENCY, "timestamp", -5, FailureReason.INVALID_VALUE, "timestamp"),
        (LATENCY, "timestamp", True, FailureReason.INVALID_VALUE, "timestamp"),
        (LATENCY, "payload", None, FailureReason.MISSING_FIELD, "payload"),
        (LATENCY, "payload", [1], FailureReason.INVALID_VALUE, "payload"),
        (LATENCY, "payload.invocation_id", ..., FailureReason.MISSING_FIELD, "invocation_id"),
        (LATENCY, "payload.metric_type", "speed", FailureReason.INVALID_VALUE, "metric_type"),
        (LATENCY, "payload.value", ..., FailureReason.MISSING_FIELD, "payload.value"),
        (LATENCY, "payload.value", -1, FailureReason.INVALID_VALUE, "payload.value"),
        (LATENCY, "payload.value", True, FailureReason.INVALID_VALUE, "payload.value"),
        (LATENCY, "payload.value", "10", FailureReason.INVALID_VALUE, "payload.value"),
        (LATENCY, "payload.percentile", 101, FailureReason.INVALID_VALUE, "percentile"),
        (COMPLETE, "payload.model_id", ..., FailureReason.MISSING_FIELD, "payload.model_id"),
        (COMPLETE, "payload.status", ..., FailureReason.MISSING_FIELD, "payload.status"),
        (COMPLETE, "payload.status", "done", FailureReason.INVALID_VALUE, "payload.status"),
        (COMPLETE, "payload.token_count", 1.5, FailureReason.INVALID_VALUE, "token_count"),
        (COMPLETE, "payload.token_count", -1, FailureReason.INVALID_VALUE, "token_count"),
        (COMPLETE, "payload.latency_ms", -0.1, FailureReason.INVALID_VALUE, "latency_ms"),
        (COMPLETE, "schema_version", "3", FailureReason.INVALID_VALUE, "schema_version"),
    ],
)
def test_failure_reasons(
    event: dict[str, Any], path: str, value: Any, reason: FailureReason, field: str
) -> None:
    batch = decode(_with(event, path, value))
    (dead,) = batch.dead_letters
    assert dead.reason == reason
    assert field in dead.detail
    assert batch.read == 1 and batch.accepted == 0


def test_prompt_failures_never_show_the_text() -> None:
    secret = "my card is 4111 1111 1111 1111 and mail x@example.com"
    cases = {
        FailureReason.MISSING_FIELD: _with(prompt_event(secret), "payload.model", ...),
        FailureReason.INVALID_VALUE: _with(prompt_event(secret), "payload.session.id", 7),
        FailureReason.TOO_LARGE: prompt_event(secret + "x" * 100),
    }
    batch = decode(*cases.values(), max_text_chars=80)
    assert [d.reason for d in batch.dead_letters] == list(cases)
    for dead in batch.dead_letters:
        assert "4111" not in dead.detail and "example.com" not in dead.detail
        assert dead.classification == "pii" and dead.sensitive is True
    assert "payload.prompt.text" in batch.dead_letters[2].detail


def test_dead_letter_classification_of_a_harmless_record() -> None:
    batch = decode(_with(LATENCY, "payload.metric_type", "speed"))
    (dead,) = batch.dead_letters
    assert (dead.classification, dead.sensitive) == ("internal", False)
    declared_public = _with(
        _with(prompt_event(), "payload.classification", "public"), "payload.model", ...
    )
    (dead,) = decode(declared_public).dead_letters
    assert (dead.classification, dead.sensitive) == ("public", False)


def test_unparseable_records_are_sensitive_without_a_level() -> None:
    batch = decode(None, b"", b"{broken", b'"a string"', b"x" * 50, max_value_bytes=40)
    reasons = [d.reason for d in batch.dead_letters]
    assert reasons == [
        FailureReason.INVALID_JSON,
        FailureReason.INVALID_JSON,
        FailureReason.INVALID_JSON,
        FailureReason.NOT_AN_OBJECT,
        FailureReason.TOO_LARGE,
    ]
    assert all(d.sensitive and d.classification is None for d in batch.dead_letters)
    assert [d.record.offset for d in batch.dead_letters] == [0, 1, 2, 3, 4]


def test_unknown_declared_level_and_template_pii() -> None:
    odd = prompt_event(classification="TOP-SECRET")
    odd["event_id"] = "p-odd"
    templated = prompt_event(prompt={"text": "hi", "template": "reply to ann@example.org"})
    levels = {
        row["event_id"]: row["classification"] for row in rows(decode(odd, templated), "prompts")
    }
    assert levels == {"p-odd": "restricted", "p-1": "pii"}


def test_non_finite_number_is_invalid_json() -> None:
    raw = orjson.dumps(COMPLETE).replace(b'"timeout"}', b'"timeout","cost_usd":1e400}')
    (dead,) = decode(raw).dead_letters
    assert dead.reason == FailureReason.INVALID_JSON and dead.classification is None


def test_both_key_spellings_is_ambiguous() -> None:
    event = prompt_event()
    event["eventId"] = "p-other"
    (dead,) = decode(event).dead_letters
    assert dead.reason == FailureReason.INVALID_VALUE and "event_id" in dead.detail
