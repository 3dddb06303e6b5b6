"""Dead-letter messages (SPEC §2.4): headers, value encryption, production. Plain module.

A dead letter keeps the original key and value bytes. When the record is sensitive (or could
not be parsed well enough to tell) its value is envelope-encrypted as in SPEC §4.2 under the
content id ``dlq/<topic>/<partition>/<offset>``; the wrapped DEK, IV, tag and KEK id travel in
headers, so the replay job and ``dlq show`` can decrypt it with the same KEK.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memgraph_pipelines.telemetry.outcome import DeadLetter, FailureReason
from memgraph_pipelines.vault.envelope import (
    ALGORITHM,
    EncryptedText,
    decrypt_text,
    encrypt_text,
)
from memgraph_pipelines.vault.kek import KeyEncryptionKey

H_TOPIC = "x-original-topic"
H_PARTITION = "x-original-partition"
H_OFFSET = "x-original-offset"
H_REASON = "x-failure-reason"
H_DETAIL = "x-failure-detail"
H_RETRY = "x-retry-count"
H_ENCRYPTION = "x-value-encryption"
H_DEK = "x-encrypted-dek"
H_IV = "x-iv"
H_TAG = "x-auth-tag"
H_KEK = "x-kek-id"
H_CONTENT_ID = "x-content-id"
H_CLASSIFICATION = "x-classification"

DEFAULT_SENSITIVE_CLASSIFICATION = "restricted"
#: Detail is for humans; a bound keeps a runaway message from bloating every header set.
MAX_DETAIL_CHARS = 1024
_OWN_HEADERS = frozenset(
    {H_TOPIC, H_PARTITION, H_OFFSET, H_REASON, H_DETAIL, H_RETRY}
    | {H_ENCRYPTION, H_DEK, H_IV, H_TAG, H_KEK, H_CONTENT_ID, H_CLASSIFICATION}
)


class InvalidDeadLetterError(ValueError):
    """A message on a DLQ topic lacks, or has malformed, SPEC §2.4 headers."""


class DeadLetterDeliveryError(RuntimeError):
    """Some dead letters were not acknowledged by the broker; the batch must not complete."""


@dataclass(frozen=True, slots=True)
class DeadLetterMessage:
    key: bytes | None
    value: bytes | None = field(repr=False)
    headers: list[tuple[str, bytes]] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ValueEncryption:
    algorithm: str
    wrapped_dek: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    auth_tag: bytes = field(repr=False)
    kek_id: str
    content_id: str
    classification: str


@dataclass(frozen=True, slots=True)
class DeadLetterHeaders:
    original_topic: str
    original_partition: int
    original_offset: int
    #: A ``FailureReason`` value; kept as text so an unknown future code still parses.
    failure_reason: str
    failure_detail: str
    retry_count: int
    #: Set when the value is envelope-encrypted.
    encryption: ValueEncryption | None = None

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None


def dead_letter_content_id(topic: str, partition: int, offset: int) -> str:
    return f"dlq/{topic}/{partition}/{offset}"


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def build_dead_letter_message(dl: DeadLetter, *, kek: KeyEncryptionKey) -> DeadLetterMessage:
    record = dl.record
    detail = dl.detail if len(dl.detail) <= MAX_DETAIL_CHARS else dl.detail[:MAX_DETAIL_CHARS]
    headers: list[tuple[str, bytes]] = [
        (H_TOPIC, record.topic.encode()),
        (H_PARTITION, str(record.partition).encode()),
        (H_OFFSET, str(record.offset).encode()),
        (H_REASON, FailureReason(dl.reason).value.encode()),
        (H_DETAIL, detail.encode("utf-8", "replace")),
        (H_RETRY, str(dl.retry_count).encode()),
    ]
    if not dl.sensitive:
        # Keep the producer's own headers (tracing etc.) for replay; ours win on a name clash.
        originals = [(k, v) for k, v in record.headers if k not in _OWN_HEADERS]
        return DeadLetterMessage(key=record.key, value=record.value, headers=originals + headers)
    # A sensitive record's headers are dropped: nothing says they are free of sensitive text.
    if record.value is None:
        return DeadLetterMessage(key=record.key, value=None, headers=headers)
    enc = encrypt_text(
        record.value,
        content_id=dead_letter_content_id(record.topic, record.partition, record.offset),
        classification=dl.classification or DEFAULT_SENSITIVE_CLASSIFICATION,
        kek=kek,
    )
    headers += [
        (H_ENCRYPTION, enc.algorithm.encode()),
        (H_DEK, _b64(enc.wrapped_dek)),
        (H_IV, _b64(enc.iv)),
        (H_TAG, _b64(enc.auth_tag)),
        (H_KEK, enc.kek_id.encode()),
        (H_CONTENT_ID, enc.content_id.encode()),
        (H_CLASSIFICATION, enc.classification.encode()),
    ]
    return DeadLetterMessage(key=record.key, value=enc.ciphertext, headers=headers)


def _header_map(headers: Iterable[tuple[str, bytes | str | None]] | None) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for name, value in headers or ():
        if value is None:
            continue
        found[name] = value.encode() if isinstance(value, str) else bytes(value)
    return found


def _text(found: dict[str, bytes], name: str) -> str:
    try:
        return found[name].decode("utf-8")
    except KeyError:
        raise InvalidDeadLetterError(f"dead letter lacks header {name}") from None
    except UnicodeDecodeError:
        raise InvalidDeadLetterError(f"dead letter header {name} is not UTF-8") from None


def _int(found: dict[str, bytes], name: str) -> int:
    try:
        return int(_text(found, name))
    except ValueError:
        raise InvalidDeadLetterError(f"dead letter header {name} is not an integer") from None


def _binary(found: dict[str, bytes], name: str) -> bytes:
    try:
        return base64.b64decode(found[name], validate=True)
    except KeyError:
        raise InvalidDeadLetterError(f"encrypted dead letter lacks header {name}") from None
    except binascii.Error:
        raise InvalidDeadLetterError(f"dead letter header {name} is not base64") from None


def parse_dead_letter(headers: Iterable[tuple[str, Any]] | None) -> DeadLetterHeaders:
    """Typed view of a DLQ message's headers (``confluent_kafka.Message.headers()``)."""
    found = _header_map(headers)
    encryption = None
    if H_ENCRYPTION in found:
        encryption = ValueEncryption(
            algorithm=_text(found, H_ENCRYPTION),
            wrapped_dek=_binary(found, H_DEK),
            iv=_binary(found, H_IV),
            auth_tag=_binary(found, H_TAG),
            kek_id=_text(found, H_KEK),
            content_id=_text(found, H_CONTENT_ID),
            classification=_text(found, H_CLASSIFICATION),
        )
    return DeadLetterHeaders(
        original_topic=_text(found, H_TOPIC),
        original_partition=_int(found, H_PARTITION),
        original_offset=_int(found, H_OFFSET),
        failure_reason=_text(found, H_REASON),
        failure_detail=found.get(H_DETAIL, b"").decode("utf-8", "replace"),
        retry_count=_int(found, H_RETRY) if H_RETRY in found else 0,
        encryption=encryption,
    )


def decrypt_dead_letter_value(
    value: bytes | None,
    headers: Iterable[tuple[str, Any]] | DeadLetterHeaders | None,
    kek: KeyEncryptionKey,
) -> bytes | None:
    """The original value bytes: decrypted when encrypted, else returned as they are."""
    parsed = headers if isinstance(headers, DeadLetterHeaders) else parse_dead_letter(headers)
    encryption = parsed.encryption
    if encryption is None or value is None:
        return value
    if encryption.algorithm != ALGORITHM:
        raise InvalidDeadLetterError(f"unsupported value encryption {encryption.algorithm!r}")
    return decrypt_text(
        EncryptedText(
            content_id=encryption.content_id,
            classification=encryption.classification,
            ciphertext=value,
            wrapped_dek=encryption.wrapped_dek,
            iv=encryption.iv,
            auth_tag=encryption.auth_tag,
            kek_id=encryption.kek_id,
            algorithm=encryption.algorithm,
        ),
        kek,
    )


def produce_dead_letters(
    producer: Any,
    topic: str,
    dead_letters: Sequence[DeadLetter],
    *,
    kek: KeyEncryptionKey,
    flush_timeout_s: float = 60.0,
) -> Counter[str]:
    """Produce every dead letter to ``topic`` and wait for all acknowledgements.

    Returns counts by failure reason. Raises ``DeadLetterDeliveryError`` when any message was
    not acknowledged in time or was rejected; the caller must then not commit the batch.
    ``producer`` is a ``confluent_kafka.Producer`` (ideally ``acks=all``, idempotent)."""
    counts: Counter[str] = Counter(FailureReason(dl.reason).value for dl in dead_letters)
    produce_messages(
        producer,
        [(topic, build_dead_letter_message(dl, kek=kek), 0) for dl in dead_letters],
        flush_timeout_s=flush_timeout_s,
    )
    return counts


def produce_messages(
    producer: Any,
    sends: Sequence[tuple[str, DeadLetterMessage, int]],
    *,
    flush_timeout_s: float = 60.0,
) -> None:
    """Produce (topic, message, timestamp ms or 0 for now) and wait for every acknowledgement;
    raises ``DeadLetterDeliveryError`` when one was rejected or is still unacknowledged."""
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:  # the error text names the broker condition, never the value
            failures.append(str(err.str() if hasattr(err, "str") else err))

    for topic, message, timestamp_ms in sends:
        while True:
            try:
                producer.produce(
                    topic,
                    key=message.key,
                    value=message.value,
                    headers=message.headers,
                    timestamp=timestamp_ms,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.5)
        producer.poll(0)
    undelivered = producer.flush(flush_timeout_s)
    if undelivered or failures:
        first = f"; first error: {failures[0]}" if failures else ""
        raise DeadLetterDeliveryError(
            f"{len(failures)} of {len(sends)} messages failed and {undelivered} are still "
            f"unacknowledged{first}"
        )
