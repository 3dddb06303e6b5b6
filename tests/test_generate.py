"""Synthetic Observatory traffic, its producer, the `generate` command and the test oracle."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from memgraph_pipelines.cli.main import main as cli_main
from memgraph_pipelines.telemetry.generate import (
    EARLIEST_MS,
    GeneratedEvent,
    generate_events,
    produce_events,
)
from tests.expected_graph import EVENT_TYPES, classify, expect, snake_keys

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
REASONS = {
    "invalid_json",
    "not_an_object",
    "missing_field",
    "invalid_value",
    "unknown_event_type",
    "too_large",
}


def _records(events: list[GeneratedEvent]) -> list[dict]:
    """The loadable records, keys as sent."""
    return [orjson.loads(e.value) for e in events if e.malformed_reason is None]


def _ts_ms(value: int | str) -> int:
    if isinstance(value, int):
        return value
    from datetime import datetime

    return int(datetime.fromisoformat(value).timestamp() * 1000)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_same_seed_same_records_and_other_seed_differs() -> None:
    first = list(generate_events(3_000, seed=7, start_ms=START_MS))
    again = list(generate_events(3_000, seed=7, start_ms=START_MS))
    other = list(generate_events(3_000, seed=8, start_ms=START_MS))
    assert first == again
    assert [e.value for e in first] != [e.value for e in other]


@pytest.mark.parametrize("n", [0, 1, 17, 2_500])
def test_exactly_n_records(n: int) -> None:
    assert sum(1 for _ in generate_events(n, seed=3, malformed_share=0.2)) == n


def test_rejects_shares_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="pii_share"):
        generate_events(10, pii_share=1.5)


def test_timestamps_after_2020_and_not_in_the_future() -> None:
    now_ms = int(time.time() * 1000)
    for record in _records(list(generate_events(5_000, seed=4))):
        ts = _ts_ms(record.get("timestamp"))
        assert EARLIEST_MS <= ts <= now_ms + 1_000


def test_two_thousand_events_show_every_shape() -> None:
    events = list(generate_events(2_000, seed=11, start_ms=START_MS))
    records = _records(events)
    normalised = [snake_keys(r) for r in records]
    assert {r["event_type"] for r in normalised} == EVENT_TYPES
    legacy = [r for r in normalised if "payload" not in r]
    assert legacy and all(r["status"].isupper() and isinstance(r["timestamp"], int) for r in legacy)
    assert any(r.get("schema_version") == "2" for r in normalised)
    assert any("eventId" in r for r in records) and any("event_id" in r for r in records)
    nested_camel = re.compile(rb'"(userId|promptEventId|invocationId|modelId|finishReason)"')
    assert any(nested_camel.search(e.value) for e in events if e.malformed_reason is None)
    stamps = [r["timestamp"] for r in normalised]
    assert any(isinstance(s, int) for s in stamps)
    assert any(isinstance(s, str) and s.endswith("Z") for s in stamps)
    assert any(isinstance(s, str) and re.search(r"[+-]\d\d:\d\d$", s) for s in stamps)
    models = {r["payload"]["model_id"] for r in normalised if "model_id" in r.get("payload", {})}
    assert {"gpt-4o", "claude-3-5-sonnet"} <= models and len(models) >= 5
    session_keys = {e.key for e in events if e.key and e.key.startswith(b"sess-")}
    assert session_keys and any(e.key and not e.key.startswith(b"sess-") for e in events)


def test_sensitive_and_pii_texts_are_present() -> None:
    events = list(generate_events(5_000, seed=5, sensitive_share=0.2, pii_share=0.3))
    records = [snake_keys(r) for r in _records(events)]
    levels_in_payload = {r["payload"].get("classification") for r in records if "payload" in r}
    levels_in_metadata = {r.get("metadata", {}).get("classification") for r in records}
    assert {"confidential", "restricted"} <= levels_in_payload
    assert {"confidential", "restricted"} <= levels_in_metadata
    blob = b"\n".join(e.value for e in events if e.malformed_reason is None).decode()
    assert re.search(r"[\w.]+@[\w-]+\.[\w.]+", blob)
    assert re.search(r"\b\d{3}-\d{2}-\d{4}\b", blob)
    assert re.search(r"\bDE\d{2}(?: \d{4}){4} \d{2}\b", blob)
    assert re.search(r"\b(sk-[A-Za-z0-9]{48}|AKIA[A-Z2-7]{16}|ghp_[A-Za-z0-9]{36})\b", blob)
    cards = re.findall(r"\b(?:\d{4}[ -]?){3}\d{4}\b", blob)
    assert any(_luhn_ok(re.sub(r"\D", "", c)) for c in cards)


def test_every_malformed_reason_and_the_oracle_agrees_with_the_generator() -> None:
    events = list(generate_events(6_000, seed=2, malformed_share=0.4, start_ms=START_MS))
    made = Counter(e.malformed_reason for e in events if e.malformed_reason)
    assert set(made) == REASONS
    for event in events:
        assert classify(event.value)[0] == event.malformed_reason, event.value[:300]
    too_large = [e for e in events if e.malformed_reason == "too_large"]
    assert len(too_large) == 1  # at most one per 20,000 records
    assert 1_000_000 < len(too_large[0].value) < 1_100_000


def test_oversized_prompts_stay_rare_in_long_runs() -> None:
    events = generate_events(60_000, seed=9, malformed_share=0.3, start_ms=START_MS)
    assert sum(e.malformed_reason == "too_large" for e in events) <= 3


def test_duplicates_repeat_earlier_bytes_and_the_oracle_counts_them() -> None:
    events = list(generate_events(5_000, seed=6, start_ms=START_MS))
    duplicates = [e for e in events if e.is_duplicate]
    assert duplicates
    seen: set[bytes] = set()
    for event in events:
        if event.is_duplicate:
            assert event.value in seen
        seen.add(event.value)
    assert expect(e.value for e in events).duplicates == len(duplicates)


def test_late_links_arrive_before_what_they_refer_to() -> None:
    events = list(generate_events(5_000, seed=12, start_ms=START_MS))
    records = [snake_keys(r) for r in _records(events)]
    seen_prompts: set[str] = set()
    seen_invocations: set[str] = set()
    early_responses = early_tokens = 0
    for r in records:
        payload = r.get("payload", {})
        if r["event_type"] == "llm.prompt.submitted":
            seen_prompts.add(r["event_id"])
        elif r["event_type"] == "llm.response.generated":
            early_responses += payload["prompt_event_id"] not in seen_prompts
        elif r["event_type"] == "llm.tokens.consumed":
            early_tokens += payload["invocation_id"] not in seen_invocations
        elif r["event_type"].startswith("llm.invocation."):
            seen_invocations.add(payload.get("invocation_id") or r["event_id"])
    assert early_responses > 20 and early_tokens > 20


def _count_by_watermarks(brokers: str, topic: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"{topic}-count"})
    try:
        total = 0
        for partition in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            total += high - low
        return total
    finally:
        consumer.close()


def test_produce_five_thousand_and_count_them_back(
    kafka_brokers: str, fresh_topic: Callable[..., str]
) -> None:
    topic = fresh_topic("gen", partitions=3)
    events = generate_events(5_000, seed=1, malformed_share=0.05)
    sent = produce_events({"bootstrap.servers": kafka_brokers}, topic, events)
    assert sent == 5_000
    assert _count_by_watermarks(kafka_brokers, topic, 3) == 5_000


def test_produce_raises_when_a_delivery_fails(
    kafka_brokers: str, fresh_topic: Callable[..., str]
) -> None:
    topic = fresh_topic("gen-fail", partitions=1)
    events = [GeneratedEvent(b"k", b"{}", partition_hint=7)]
    with pytest.raises(RuntimeError, match="failed"):
        produce_events(
            {"bootstrap.servers": kafka_brokers, "message.timeout.ms": 5_000}, topic, events
        )


def test_generate_command_produces_and_summarises(
    kafka_brokers: str,
    fresh_topic: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = fresh_topic("gen-cli", partitions=2)
    monkeypatch.setenv("KAFKA_BROKERS", kafka_brokers)
    argv = ["generate", "--events", "300", "--seed", "4", "--topic", topic, "--no-progress"]
    assert cli_main(argv) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"produced 300 events to {topic}") and "events/s" in line
    assert _count_by_watermarks(kafka_brokers, topic, 2) == 300


# --- the oracle on records written by hand -----------------------------------------------


def _v2(event_id: str, event_type: str, payload: dict, ts: int | str = START_MS) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "event_type": event_type,
            "schema_version": "2",
            "timestamp": ts,
            "payload": payload,
        }
    )


def _hand_written_records() -> list[bytes | None]:
    complete = _v2(
        "c-1",
        "llm.invocation.complete",
        {
            "invocation_id": "inv-1",
            "model_id": "gpt-4o",
            "status": "SUCCESS",
            "latency_ms": 120.5,
            "session_id": "s-1",
            "user_id": "u-1",
            "prompt_event_id": "p-1",
            "response_event_id": "r-1",
        },
        "2026-01-01T00:00:02.000+02:00",
    )
    return [
        # the response before its prompt
        _v2("r-1", "llm.response.generated", {"prompt_event_id": "p-1"}),
        orjson.dumps(
            {
                "eventId": "p-1",
                "eventType": "llm.prompt.submitted",
                "schemaVersion": "2",
                "timestamp": "2026-01-01T00:00:00Z",
                "payload": {
                    "prompt": {"text": "Explain UNWIND"},
                    "session": {"id": "s-1", "userId": "u-1", "applicationId": "ide"},
                    "model": {"id": "gpt-4o", "provider": "openai"},
                },
            }
        ),
        # tokens before the invocation's own events
        _v2("t-1", "llm.tokens.consumed", {"invocation_id": "inv-1", "prompt_tokens": 5}),
        _v2(
            "st-1",
            "llm.invocation.start",
            {"invocationId": "inv-1", "modelId": "gpt-4o", "sessionId": "s-1", "userId": "u-1"},
        ),
        complete,
        complete,  # an exact duplicate
        orjson.dumps(
            {
                "event_id": "v1-1",
                "event_type": "llm.invocation.complete",
                "timestamp": START_MS,
                "model_id": "llama-3-70b",
                "status": "TIMEOUT",
                "latency_ms": 30000.0,
            }
        ),
        _v2(
            "m-1",
            "llm.latency.measured",
            {"invocation_id": "inv-1", "metric_type": "ttft", "value": 9},
        ),
        _v2(
            "m-2",
            "llm.latency.measured",
            {"invocation_id": "ghost", "metric_type": "latency", "value": 1},
        ),
        _v2("x-1", "llm.error.occurred", {"invocation_id": "v1-1", "error_type": "timeout"}),
        _v2("e-1", "llm.invocation.error", {"model_id": "gemini-1-5-pro", "session_id": "s-1"}),
        _v2(
            "c-2",
            "llm.invocation.complete",
            {
                "model_id": "claude-3-5-sonnet",
                "status": "error",
                "session_id": "s-2",
                "user_id": "u-2",
                "prompt_event_id": "p-lost",
                "response_event_id": "r-lost",
            },
        ),
        _v2("x-2", "llm.error.occurred", {"error_type": "authentication", "severity": "HIGH"}),
        # what the pipeline must dead-letter
        b'{"event_id": "bad-1", "event_type": "llm.prompt.sub',
        b"[1, 2]",
        _v2(
            "bad-3",
            "llm.prompt.submitted",
            {"prompt": {"text": "hi"}, "session": {}, "model": {"id": "mistral-large"}},
        ),
        _v2("bad-4", "llm.invocation.complete", {"model_id": "command-r-plus", "status": "ok"}),
        _v2("bad-5", "llm.cache.hit", {"model_id": "gpt-4o"}),
        _v2(
            "bad-6",
            "llm.prompt.submitted",
            {
                "prompt": {"text": "x" * 1_000_001},
                "session": {"id": "s-3", "user_id": "u-3"},
                "model": {"id": "gpt-4o-mini"},
            },
        ),
    ]


def test_oracle_on_hand_written_records() -> None:
    result = expect(_hand_written_records())
    assert result.graph == {
        "nodes": {
            "Invocation": 5,  # inv-1, v1-1, e-1, c-2 and the placeholder "ghost"
            "Model": 4,  # gpt-4o, llama-3-70b, gemini-1-5-pro, claude-3-5-sonnet
            "Prompt": 2,  # p-1 and the placeholder p-lost
            "Response": 2,  # r-1 and the placeholder r-lost
            "Session": 2,
            "User": 2,
            "Error": 3,  # x-1, e-1, x-2
            "PerformanceMetric": 2,
        },
        "relationships": {
            "USES_MODEL": 4,
            "HAS_PROMPT": 2,  # inv-1 -> p-1 (named by c-1 only), c-2 -> p-lost
            "PRODUCED": 2,
            "GENERATED": 1,
            "PART_OF": 5,  # p-1, inv-1, e-1, c-2 and r-1 through p-1
            "INITIATED_BY": 2,
            "HAS_METRIC": 2,
            "CAUSED_ERROR": 2,  # x-1 -> v1-1, e-1 -> e-1
            "FOLLOWED_BY": 1,  # s-1: inv-1 then e-1
        },
    }
    assert result.dead_letters == Counter({reason: 1 for reason in REASONS})
    assert result.duplicates == 1
    assert result.loaded == 12


def test_oracle_accounts_for_every_generated_record() -> None:
    values = [e.value for e in generate_events(3_000, seed=21, start_ms=START_MS)]
    result = expect(values)
    events = list(generate_events(3_000, seed=21, start_ms=START_MS))
    assert result.dead_letters == Counter(e.malformed_reason for e in events if e.malformed_reason)
    assert result.duplicates == sum(e.is_duplicate for e in events)
    assert result.loaded + sum(result.dead_letters.values()) + result.duplicates == 3_000
    nodes = result.graph["nodes"]
    assert set(nodes) == {
        "Invocation",
        "Model",
        "Prompt",
        "Response",
        "Session",
        "User",
        "Error",
        "PerformanceMetric",
    }
    assert set(result.graph["relationships"]) == {
        "USES_MODEL",
        "HAS_PROMPT",
        "PRODUCED",
        "GENERATED",
        "PART_OF",
        "INITIATED_BY",
        "HAS_METRIC",
        "CAUSED_ERROR",
        "FOLLOWED_BY",
    }
