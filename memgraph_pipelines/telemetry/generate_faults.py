"""Broken Observatory records, one per SPEC §2.4 reason (all but ``validation_failed``).

Plain module. Each maker turns a well-formed record (which it then stands in for: the event is
lost, so whatever refers to it becomes a placeholder) into the bytes of a record that the pipeline
must dead-letter for exactly that reason; ``too_large`` makes a new prompt instead.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import orjson

from memgraph_pipelines.telemetry import generate_catalog as cat

Record = dict[str, Any]

#: SPEC §2.3: a prompt text may have at most this many characters.
MAX_PROMPT_CHARS = 1_000_000
#: Oversized prompts are this much over the limit: enough to fail, small enough to stay cheap.
OVERSIZE_MARGIN_CHARS = 64
#: At most one oversized prompt per this many records (1M records -> at most ~50 MB of them).
TOO_LARGE_SPACING = 20_000

_UNKNOWN_TYPES = ("llm.cache.hit", "llm.invocation.retry", "llm.embedding.created")

#: Required fields per event type that a ``missing_field`` record may lose (path in payload).
_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "llm.invocation.start": (("model_id",),),
    "llm.invocation.complete": (("model_id",), ("status",)),
    "llm.invocation.error": (("model_id",),),
    "llm.tokens.consumed": (("invocation_id",),),
    "llm.latency.measured": (("invocation_id",), ("metric_type",), ("value",)),
    "llm.error.occurred": (("error_type",),),
    "llm.prompt.submitted": (("prompt", "text"), ("session", "id"), ("model", "id")),
    "llm.response.generated": (("prompt_event_id",),),
}


def invalid_json(rng: random.Random, record: Record) -> bytes:
    data = orjson.dumps(record)
    kind = rng.randrange(4)
    if kind == 0:  # a write cut short
        return data[: rng.randint(1, len(data) - 1)]
    if kind == 1:  # bytes that are not UTF-8
        return b"\xff\xfe" + data[2:]
    if kind == 2:
        return b"ERROR upstream collector restarted"
    return data.replace(b'":', b"'=", 1)


def not_an_object(rng: random.Random, record: Record) -> bytes:
    kind = rng.randrange(3)
    if kind == 0:  # a batch sent as one array
        return orjson.dumps([record])
    if kind == 1:  # JSON encoded twice: a string
        return orjson.dumps(orjson.dumps(record).decode())
    return rng.choice((b"null", b"42", b"true"))


def missing_field(rng: random.Random, record: Record) -> bytes:
    broken = copy.deepcopy(record)
    payload = broken.get("payload")
    roll = rng.random()
    if payload is None:  # a legacy flat record
        del broken[rng.choice(("event_id", "model_id", "status"))]
    elif roll < 0.2:
        del broken[rng.choice(("event_id", "event_type"))]
    elif roll < 0.3:
        del broken["payload"]
    else:
        path = rng.choice(_REQUIRED[broken["event_type"]])
        parent = payload
        for part in path[:-1]:
            parent = parent[part]
        del parent[path[-1]]
    return orjson.dumps(broken)


def _set_negative(target: Record, field: str) -> bool:
    if isinstance(target.get(field), int | float):
        target[field] = -abs(target[field]) - 1
        return True
    return False


def invalid_value(rng: random.Random, record: Record) -> bytes:
    broken = copy.deepcopy(record)
    event_type = broken["event_type"]
    target: Record = broken.get("payload", broken)  # legacy records are flat
    roll = rng.random()
    done = False
    if roll < 0.15:
        broken["timestamp"] = rng.choice(("yesterday", "2024-13-45T99:00:00Z"))
        done = True
    elif event_type == "llm.invocation.complete":
        if roll < 0.55:
            done = _set_negative(target, "latency_ms")
        elif roll < 0.75:
            done = _set_negative(target, "cost_usd")
        if not done:
            target["status"] = rng.choice(("finished", "UNKNOWN", "ok"))
            done = True
    elif event_type == "llm.latency.measured":
        if roll < 0.6:
            done = _set_negative(target, "value")
        else:
            target["metric_type"] = rng.choice(("p99_latency", "queue_time"))
            done = True
    elif event_type == "llm.tokens.consumed":
        done = _set_negative(target, "prompt_tokens")
    elif event_type == "llm.error.occurred":
        target["severity"] = "catastrophic"
        done = True
    elif event_type == "llm.response.generated":
        target["response"]["finish_reason"] = "truncated"
        done = True
    if not done:
        broken["timestamp"] = "not a timestamp"
    return orjson.dumps(broken)


def unknown_event_type(rng: random.Random, record: Record) -> bytes:
    broken = dict(record)
    broken["event_type"] = rng.choice(_UNKNOWN_TYPES)
    return orjson.dumps(broken)


def too_large_prompt(rng: random.Random, ts_ms: int) -> Record:
    """A prompt whose text is just over the limit (a whole document pasted in)."""
    text = cat.oversized_text(rng, MAX_PROMPT_CHARS + OVERSIZE_MARGIN_CHARS)
    text = text[: MAX_PROMPT_CHARS + OVERSIZE_MARGIN_CHARS]
    model_id, provider, *_ = rng.choices(cat.MODELS, cat.MODEL_WEIGHTS)[0]
    return {
        "event_id": cat.uuid_like(rng),
        "event_type": "llm.prompt.submitted",
        "schema_version": "2",
        "timestamp": ts_ms,
        "payload": {
            "prompt": {"text": text},
            "session": {"id": f"sess-{cat.hex_id(rng, 48)}", "user_id": "user-bulk-import"},
            "model": {"id": model_id, "provider": provider},
        },
    }


#: Reason -> maker of the broken bytes that stand in for a record.
REPLACING_FAULTS: dict[str, Callable[[random.Random, Record], bytes]] = {
    "invalid_json": invalid_json,
    "not_an_object": not_an_object,
    "missing_field": missing_field,
    "invalid_value": invalid_value,
    "unknown_event_type": unknown_event_type,
}
#: Relative frequency of each reason among broken records; ``too_large`` is kept rare.
FAULT_WEIGHTS: dict[str, float] = {
    "invalid_json": 2.0,
    "not_an_object": 1.5,
    "missing_field": 3.0,
    "invalid_value": 3.0,
    "unknown_event_type": 1.5,
    "too_large": 0.1,
}
