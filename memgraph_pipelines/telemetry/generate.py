"""Synthetic LLM-Observatory traffic (SPEC §2) and a fast producer for it. Plain module.

``generate_events`` interleaves a few concurrent user sessions (telemetry.generate_sessions),
re-emits some records byte for byte (at-least-once delivery), and stands broken records in for
some (telemetry.generate_faults). ``produce_events`` sends them to Kafka with batching.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import orjson

from memgraph_pipelines.telemetry import generate_faults as faults
from memgraph_pipelines.telemetry.generate_catalog import camel_case
from memgraph_pipelines.telemetry.generate_sessions import (
    MAX_SESSION_MS,
    SessionFactory,
    TrafficShape,
)

#: Traffic clock: a new session starts at ``start_ms + STEP_MS * records emitted so far``.
STEP_MS = 20
#: Sessions in flight at once; their records interleave.
CONCURRENT_SESSIONS = 8
#: A duplicate is re-emitted between 1 and this many records after the original.
MAX_DUPLICATE_DELAY = 2_000
#: 2020-01-01T00:00:00Z: no generated timestamp is earlier.
EARLIEST_MS = 1_577_836_800_000


class GeneratedEvent(NamedTuple):
    key: bytes | None
    value: bytes | None
    partition_hint: int | None = None
    #: The SPEC §2.4 reason the pipeline must dead-letter this record for, None when loadable.
    malformed_reason: str | None = None
    #: True for a byte-identical re-emission of an earlier record (same event_id).
    is_duplicate: bool = False


def _check_share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def default_start_ms(n: int) -> int:
    """A start so that the traffic of ``n`` records ends at about the current time."""
    now_ms = int(time.time() * 1000)
    return max(EARLIEST_MS, now_ms - n * STEP_MS - MAX_SESSION_MS)


def generate_events(
    n: int,
    *,
    seed: int = 0,
    sensitive_share: float = 0.05,
    pii_share: float = 0.05,
    malformed_share: float = 0.01,
    v1_share: float = 0.05,
    camel_share: float = 0.3,
    duplicate_share: float = 0.01,
    late_share: float = 0.1,
    start_ms: int | None = None,
) -> Iterator[GeneratedEvent]:
    """Exactly ``n`` records, the same ones for the same arguments (``start_ms`` fixed).

    Timestamps lie in ``[start_ms, start_ms + n * STEP_MS + MAX_SESSION_MS]``; without
    ``start_ms`` that window ends at about now. Keys are session ids (most sessions) or
    event ids (sessions whose client does not send one, and broken records).
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    shares = {
        "sensitive_share": sensitive_share,
        "pii_share": pii_share,
        "malformed_share": malformed_share,
        "v1_share": v1_share,
        "camel_share": camel_share,
        "duplicate_share": duplicate_share,
        "late_share": late_share,
    }
    for name, value in shares.items():
        _check_share(name, value)
    if start_ms is None:
        start_ms = default_start_ms(n)
    elif start_ms < EARLIEST_MS:
        raise ValueError("start_ms must not be before 2020-01-01")
    return _generate(n, seed, start_ms, shares)


def _generate(
    n: int, seed: int, start_ms: int, shares: dict[str, float]
) -> Iterator[GeneratedEvent]:
    rng = random.Random(seed)
    chance = rng.random
    shape = TrafficShape(
        sensitive_share=shares["sensitive_share"],
        pii_share=shares["pii_share"],
        v1_share=shares["v1_share"],
        late_share=shares["late_share"],
    )
    malformed_share = shares["malformed_share"]
    camel_share = shares["camel_share"]
    duplicate_share = shares["duplicate_share"]
    factory = SessionFactory(rng, shape, users=max(20, n // 150))
    reasons = list(faults.FAULT_WEIGHTS)
    weights = list(faults.FAULT_WEIGHTS.values())
    replacing = list(faults.REPLACING_FAULTS)
    dumps = orjson.dumps
    # tuple.__new__ skips the NamedTuple constructor, a Python-level call per record.
    new_event = tuple.__new__

    # Each active session: (its key bytes, or None when keyed by event id; pending records).
    active: list[tuple[bytes | None, deque[dict[str, Any]]]] = []
    pending_duplicates: list[tuple[int, int, GeneratedEvent]] = []
    next_too_large = 0
    emitted = 0

    def new_session() -> tuple[bytes | None, deque[dict[str, Any]]]:
        session_id, records = factory.session(start_ms + emitted * STEP_MS)
        key = session_id.encode() if chance() < 0.9 else None
        return key, deque(records)

    while emitted < n:
        if pending_duplicates and pending_duplicates[0][0] <= emitted:
            yield heapq.heappop(pending_duplicates)[2]
            emitted += 1
            continue
        reason = None
        if malformed_share and chance() < malformed_share:
            reason = rng.choices(reasons, weights)[0]
            if reason == "too_large" and emitted < next_too_large:
                reason = replacing[int(chance() * len(replacing))]
            if reason == "too_large":  # an extra prompt: no real record is lost
                next_too_large = emitted + faults.TOO_LARGE_SPACING
                big = faults.too_large_prompt(rng, start_ms + emitted * STEP_MS)
                yield GeneratedEvent(big["event_id"].encode(), dumps(big), None, reason)
                emitted += 1
                continue

        while len(active) < CONCURRENT_SESSIONS:
            active.append(new_session())
        slot = int(chance() * CONCURRENT_SESSIONS)
        session_key, queue = active[slot]
        record = queue.popleft()
        if not queue:
            active[slot] = new_session()
        key = session_key or record["event_id"].encode()
        if reason is not None:  # the broken bytes stand in for the record
            value = faults.REPLACING_FAULTS[reason](rng, record)
            yield GeneratedEvent(key, value, None, reason)
            emitted += 1
            continue

        if chance() < camel_share:
            record = camel_case(record)
        event = new_event(GeneratedEvent, (key, dumps(record), None, None, False))
        if duplicate_share and chance() < duplicate_share:
            due = emitted + rng.randint(1, MAX_DUPLICATE_DELAY)
            duplicate = event._replace(is_duplicate=True)
            heapq.heappush(pending_duplicates, (due, emitted, duplicate))
        yield event
        emitted += 1


def tally_generated(
    events: Iterable[GeneratedEvent], tally: dict[str, int]
) -> Iterator[GeneratedEvent]:
    """Pass ``events`` through, counting malformed records and duplicates into ``tally``."""
    for event in events:
        if event.malformed_reason is not None:
            tally["malformed"] = tally.get("malformed", 0) + 1
        elif event.is_duplicate:
            tally["duplicates"] = tally.get("duplicates", 0) + 1
        yield event


def produce_events(
    producer_config: dict[str, Any],
    topic: str,
    events: Iterable[GeneratedEvent],
    *,
    progress: bool = False,
    total: int | None = None,
) -> int:
    """Produces every event, waits for all deliveries, and returns how many were sent.

    Raises ``RuntimeError`` if any delivery failed. ``total`` sizes the progress bar.
    """
    from confluent_kafka import KafkaException, Producer

    config = {
        "linger.ms": 50,
        "batch.num.messages": 10_000,
        "batch.size": 4_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 1_048_576,
        # Oversized prompts (SPEC §2.4 too_large) must still reach the topic to be dead-lettered.
        "message.max.bytes": 4_000_000,
        # Only failures call back: a Python callback per delivered record would cost more than
        # producing it.
        "delivery.report.only.error": True,
        **producer_config,
    }
    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(f"partition {msg.partition()}: {err}")

    config["on_delivery"] = on_delivery
    producer = Producer(config)
    bar = _progress_bar(total) if progress else None
    produce = producer.produce
    poll = producer.poll
    count = 0
    try:
        for event in events:
            while True:
                try:
                    if event.partition_hint is None:
                        produce(topic, event.value, event.key)
                    else:
                        produce(topic, event.value, event.key, partition=event.partition_hint)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    poll(0.05)
            count += 1
            if count % 5_000 == 0:
                poll(0)
                if bar is not None:
                    bar.update(5_000)
            if failures:
                break
        remaining = producer.flush(120)
    except KafkaException as exc:
        raise RuntimeError(f"producing to {topic} failed: {exc}") from exc
    finally:
        if bar is not None:
            bar.update(count % 5_000)
            bar.close()
    if failures:
        raise RuntimeError(f"{len(failures)} deliveries to {topic} failed; first: {failures[0]}")
    if remaining:
        raise RuntimeError(f"{remaining} records to {topic} were still undelivered after flush")
    return count


def _progress_bar(total: int | None) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="ev", unit_scale=True, desc="produce")
