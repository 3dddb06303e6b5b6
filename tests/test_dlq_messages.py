from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from memgraph_pipelines.kafka.dlq import (
    DeadLetterDeliveryError,
    build_dead_letter_message,
    decrypt_dead_letter_value,
    parse_dead_letter,
    produce_dead_letters,
)
from memgraph_pipelines.kafka.records import KafkaRecord
from memgraph_pipelines.telemetry.outcome import DeadLetter, FailureReason
from memgraph_pipelines.vault.envelope import DecryptionError
from memgraph_pipelines.vault.kek import LocalFileKek

SPEC_HEADERS = {
    "x-original-topic",
    "x-original-partition",
    "x-original-offset",
    "x-failure-reason",
    "x-failure-detail",
    "x-retry-count",
}
ENCRYPTION_HEADERS = {
    "x-value-encryption",
    "x-encrypted-dek",
    "x-iv",
    "x-auth-tag",
    "x-kek-id",
    "x-content-id",
    "x-classification",
}


@pytest.fixture
def kek(tmp_path: Path) -> LocalFileKek:
    return LocalFileKek(tmp_path / "keys" / "kek.key")


def _record(topic: str, offset: int, value: bytes | None, **kw: object) -> KafkaRecord:
    return KafkaRecord(
        topic=topic,
        partition=2,
        offset=offset,
        key=b"session-1",
        value=value,
        timestamp_ms=1_700_000_000_000,
        **kw,  # type: ignore[arg-type]
    )


def _sensitive(topic: str, marker: str, **kw: object) -> DeadLetter:
    value = json.dumps({"event_id": "e1", "payload": {"prompt": {"text": marker}}}).encode()
    return DeadLetter(
        record=_record(topic, 41, value),
        reason=FailureReason.MISSING_FIELD,
        detail="payload.session.id is required",
        sensitive=True,
        **kw,  # type: ignore[arg-type]
    )


def _plain(topic: str) -> DeadLetter:
    return DeadLetter(
        record=_record(topic, 42, b'{"event_type": "nope"}', headers=(("traceparent", b"00-ab"),)),
        reason=FailureReason.UNKNOWN_EVENT_TYPE,
        detail="unknown event_type 'nope'",
        sensitive=False,
        classification="internal",
        retry_count=2,
    )


def _assert_no_marker(marker: str, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
    assert value is not None and marker.encode() not in value
    for name, header_value in headers:
        assert marker.encode() not in header_value, name


def test_sensitive_dead_letter_value_is_encrypted(kek: LocalFileKek) -> None:
    marker = f"MARK-{uuid.uuid4().hex}"
    dl = _sensitive("events", marker, classification="pii")
    message = build_dead_letter_message(dl, kek=kek)
    names = {name for name, _ in message.headers}
    assert names == SPEC_HEADERS | ENCRYPTION_HEADERS
    assert message.key == b"session-1"
    _assert_no_marker(marker, message.value, message.headers)
    assert marker not in repr(message)

    parsed = parse_dead_letter(message.headers)
    assert (parsed.original_topic, parsed.original_partition, parsed.original_offset) == (
        "events",
        2,
        41,
    )
    assert parsed.failure_reason == "missing_field" and parsed.retry_count == 0
    assert parsed.encryption is not None
    assert parsed.encryption.content_id == "dlq/events/2/41"
    assert parsed.encryption.classification == "pii"
    assert parsed.encryption.kek_id == kek.kek_id
    assert decrypt_dead_letter_value(message.value, message.headers, kek) == dl.record.value


def test_unknown_classification_defaults_to_restricted_and_binds_headers(
    kek: LocalFileKek,
) -> None:
    message = build_dead_letter_message(_sensitive("events", "m"), kek=kek)
    headers = dict(message.headers)
    assert headers["x-classification"] == b"restricted"
    tampered = [
        (name, b"dlq/events/2/40" if name == "x-content-id" else value)
        for name, value in message.headers
    ]
    with pytest.raises(DecryptionError):
        decrypt_dead_letter_value(message.value, tampered, kek)


def test_plain_dead_letter_keeps_value_and_original_headers(kek: LocalFileKek) -> None:
    dl = _plain("events")
    message = build_dead_letter_message(dl, kek=kek)
    headers = dict(message.headers)
    assert message.value == dl.record.value
    assert headers["traceparent"] == b"00-ab"
    assert headers["x-retry-count"] == b"2"
    assert not ENCRYPTION_HEADERS & set(headers)
    assert decrypt_dead_letter_value(message.value, message.headers, kek) == dl.record.value


def test_dead_letters_round_trip_through_the_broker(
    kek: LocalFileKek, kafka_brokers: str, fresh_topic: Callable[..., str]
) -> None:
    topic = fresh_topic("dlq-test")
    dlq = f"{topic}-dlq"
    marker = f"MARK-{uuid.uuid4().hex}"
    sensitive, plain = _sensitive(topic, marker), _plain(topic)
    producer = Producer({"bootstrap.servers": kafka_brokers, "acks": "all"})
    counts = produce_dead_letters(producer, dlq, [sensitive, plain], kek=kek)
    assert counts == {"missing_field": 1, "unknown_event_type": 1}

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_brokers,
            "group.id": f"dlq-test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(dlq, 0, OFFSET_BEGINNING)])
    messages = []
    try:
        while len(messages) < 2:
            msg = consumer.poll(10)
            assert msg is not None, "dead letters did not arrive"
            assert msg.error() is None
            messages.append(msg)
    finally:
        consumer.close()

    encrypted, kept = messages
    headers = encrypted.headers()
    assert {name for name, _ in headers} >= SPEC_HEADERS | ENCRYPTION_HEADERS
    assert encrypted.key() == b"session-1"
    _assert_no_marker(marker, encrypted.value(), headers)
    parsed = parse_dead_letter(headers)
    assert parsed.original_topic == topic and parsed.original_offset == 41
    assert parsed.failure_detail == "payload.session.id is required"
    assert decrypt_dead_letter_value(encrypted.value(), headers, kek) == sensitive.record.value

    assert kept.value() == plain.record.value
    assert parse_dead_letter(kept.headers()).failure_reason == "unknown_event_type"
    assert decrypt_dead_letter_value(kept.value(), kept.headers(), kek) == plain.record.value


def test_undelivered_dead_letter_raises(kek: LocalFileKek) -> None:
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 1500})
    with pytest.raises(DeadLetterDeliveryError):
        produce_dead_letters(producer, "nowhere-dlq", [_plain("nowhere")], kek=kek)
