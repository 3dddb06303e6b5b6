"""Test oracle: the graph SPEC §2 and §5 require for a sequence of raw Observatory record values.

Written from SPEC's rules alone, not from the pipeline's code; the ingestion tests measure the
pipeline against it. Records are taken in produce order.

Per record, in this order (the first rule that applies decides):
  1. ``None``, or bytes that are not one JSON document (incl. non-UTF-8, empty) -> invalid_json.
  2. A JSON value that is not an object -> not_an_object.
  3. Keys are normalised, at every level, from camelCase to snake_case.
  4. No non-empty string ``event_id``, or no ``event_type`` or ``timestamp`` -> missing_field.
  5. ``event_type`` not one of the eight of SPEC §2.3 -> unknown_event_type.
  6. Legacy v1 = no ``schema_version`` (or "1") and no ``payload``: a flat
     llm.invocation.complete needing ``model_id`` and ``status``. Otherwise ``payload`` must be
     an object holding the type's bold fields of SPEC §2.3 -> else missing_field.
  7. A prompt text over 1,000,000 characters -> too_large.
  8. invalid_value: a timestamp that is neither an integer (epoch ms) nor ISO-8601 with an
     offset; a count, latency, cost or metric value that is not a finite number >= 0; a status,
     metric_type, severity or finish_reason (case-insensitive) outside SPEC's values.
  9. An ``event_id`` already accepted earlier -> an exact duplicate: counted, adds nothing.

From the accepted records (every label and type is counted; zero counts are left out):
  - Invocation key = payload.invocation_id, else event_id (v1: event_id). Invocations = keys of
    start/complete/error/v1 records, plus keys named by tokens, latency and error.occurred
    records (placeholders).
  - Model = model ids of invocation records and of prompts (model.id).
  - Prompt = prompt records, plus ids named by responses' and invocations' prompt_event_id.
  - Response = response records, plus ids named by invocations' response_event_id.
  - Session = prompts' session.id and invocations' session_id; User = prompts' session.user_id
    and invocations' user_id.
  - Error = llm.error.occurred and llm.invocation.error records; PerformanceMetric =
    llm.latency.measured records.
  - USES_MODEL, HAS_PROMPT, PRODUCED, INITIATED_BY: distinct (from, to) pairs named by the
    records above (INITIATED_BY from a prompt's session or an invocation with both ids).
  - GENERATED: one per response. HAS_METRIC: one per metric. CAUSED_ERROR: one per error with
    an invocation (an llm.invocation.error causes its own Error).
  - PART_OF: one per prompt; one per distinct (invocation, session_id); one per response whose
    prompt was accepted and has a session.
  - FOLLOWED_BY: per session, (distinct non-placeholder invocations whose first session_id is
    that session) - 1; every accepted record has a timestamp.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

EVENT_TYPES = frozenset(
    {
        "llm.invocation.start",
        "llm.invocation.complete",
        "llm.invocation.error",
        "llm.tokens.consumed",
        "llm.latency.measured",
        "llm.error.occurred",
        "llm.prompt.submitted",
        "llm.response.generated",
    }
)
INVOCATION_TYPES = frozenset(
    {"llm.invocation.start", "llm.invocation.complete", "llm.invocation.error"}
)
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "llm.invocation.start": (("model_id",),),
    "llm.invocation.complete": (("model_id",), ("status",)),
    "llm.invocation.error": (("model_id",),),
    "llm.tokens.consumed": (("invocation_id",),),
    "llm.latency.measured": (("invocation_id",), ("metric_type",), ("value",)),
    "llm.error.occurred": (("error_type",),),
    "llm.prompt.submitted": (("prompt", "text"), ("session", "id"), ("model", "id")),
    "llm.response.generated": (("prompt_event_id",),),
}
NON_NEGATIVE: dict[str, tuple[tuple[str, ...], ...]] = {
    "llm.invocation.complete": tuple(
        (f,)
        for f in ("token_count", "prompt_tokens", "completion_tokens", "latency_ms", "cost_usd")
    ),
    "llm.tokens.consumed": (("prompt_tokens",), ("completion_tokens",)),
    "llm.latency.measured": (("value",),),
    "llm.response.generated": tuple(
        [("usage", f) for f in ("prompt_tokens", "completion_tokens", "total_tokens")]
        + [("metrics", f) for f in ("latency_ms", "ttft_ms", "cost_usd")]
    ),
}
ENUMS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "llm.invocation.complete": (("status",), frozenset({"success", "error", "timeout"})),
    "llm.latency.measured": (("metric_type",), frozenset({"latency", "ttft", "throughput"})),
    "llm.error.occurred": (("severity",), frozenset({"low", "medium", "high", "critical"})),
    "llm.response.generated": (
        ("response", "finish_reason"),
        frozenset({"stop", "length", "content_filter", "function_call", "error"}),
    ),
}
MAX_PROMPT_CHARS = 1_000_000
_MISSING = object()
_CAPITAL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_CAPITAL.sub("_", k).lower(): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def _valid_timestamp(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            return False
    return False


def _non_negative(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def classify(value: bytes | None) -> tuple[str | None, dict[str, Any] | None]:
    """(dead-letter reason or None, the normalised record when it is loadable)."""
    if value is None:
        return "invalid_json", None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "invalid_json", None
    if not isinstance(parsed, dict):
        return "not_an_object", None
    record = snake_keys(parsed)
    event_id = record.get("event_id")
    if not isinstance(event_id, str) or not event_id or "event_type" not in record:
        return "missing_field", None
    if "timestamp" not in record:
        return "missing_field", None
    event_type = record["event_type"]
    if event_type not in EVENT_TYPES:
        return "unknown_event_type", None
    legacy = "payload" not in record and record.get("schema_version") in (None, "1", 1)
    if legacy:
        body = record
        required: tuple[tuple[str, ...], ...] = (("model_id",), ("status",))
    else:
        body = record.get("payload")
        if not isinstance(body, dict):
            return "missing_field", None
        required = REQUIRED[event_type]
    if any(_get(body, path) in (_MISSING, None) for path in required):
        return "missing_field", None
    text = _get(body, ("prompt", "text"))
    if isinstance(text, str) and len(text) > MAX_PROMPT_CHARS:
        return "too_large", None
    if not _valid_timestamp(record["timestamp"]):
        return "invalid_value", None
    for path in NON_NEGATIVE.get(event_type, ()):
        found = _get(body, path)
        if found not in (_MISSING, None) and not _non_negative(found):
            return "invalid_value", None
    if event_type in ENUMS:
        path, allowed = ENUMS[event_type]
        found = _get(body, path)
        if found not in (_MISSING, None) and str(found).lower() not in allowed:
            return "invalid_value", None
    record["_body"] = body
    return None, record


@dataclass
class _Graph:
    invocations: dict[str, bool] = field(default_factory=dict)  # key -> has its own record
    invocation_session: dict[str, str] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)
    prompts: set[str] = field(default_factory=set)
    prompt_session: dict[str, str] = field(default_factory=dict)
    named_prompts: set[str] = field(default_factory=set)
    responses: dict[str, str] = field(default_factory=dict)  # response -> its prompt
    named_responses: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    errors: set[str] = field(default_factory=set)
    metrics: set[str] = field(default_factory=set)
    pairs: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))

    def refer_invocation(self, key: str) -> None:
        self.invocations.setdefault(key, False)

    def add_session(self, session_id: Any, user_id: Any) -> None:
        if session_id:
            self.sessions.add(session_id)
        if user_id:
            self.users.add(user_id)
        if session_id and user_id:
            self.pairs["INITIATED_BY"].add((session_id, user_id))

    def add(self, record: dict[str, Any]) -> None:
        event_id = record["event_id"]
        event_type = record["event_type"]
        body = record["_body"]
        if event_type in INVOCATION_TYPES:
            key = body.get("invocation_id") or event_id
            self.invocations[key] = True
            if body.get("model_id"):
                self.models.add(body["model_id"])
                self.pairs["USES_MODEL"].add((key, body["model_id"]))
            session_id = body.get("session_id")
            self.add_session(session_id, body.get("user_id"))
            if session_id:
                self.pairs["PART_OF"].add((key, session_id))
                self.invocation_session.setdefault(key, session_id)
            if body.get("prompt_event_id"):
                self.named_prompts.add(body["prompt_event_id"])
                self.pairs["HAS_PROMPT"].add((key, body["prompt_event_id"]))
            if body.get("response_event_id"):
                self.named_responses.add(body["response_event_id"])
                self.pairs["PRODUCED"].add((key, body["response_event_id"]))
            if event_type == "llm.invocation.error":
                self.errors.add(event_id)
                self.pairs["CAUSED_ERROR"].add((key, event_id))
        elif event_type == "llm.prompt.submitted":
            self.prompts.add(event_id)
            self.models.add(body["model"]["id"])
            session = body["session"]
            self.add_session(session["id"], session.get("user_id"))
            self.prompt_session[event_id] = session["id"]
        elif event_type == "llm.response.generated":
            self.responses[event_id] = body["prompt_event_id"]
            self.named_prompts.add(body["prompt_event_id"])
        elif event_type == "llm.tokens.consumed":
            self.refer_invocation(body["invocation_id"])
        elif event_type == "llm.latency.measured":
            self.metrics.add(event_id)
            self.refer_invocation(body["invocation_id"])
            self.pairs["HAS_METRIC"].add((body["invocation_id"], event_id))
        elif event_type == "llm.error.occurred":
            self.errors.add(event_id)
            if body.get("invocation_id"):
                self.refer_invocation(body["invocation_id"])
                self.pairs["CAUSED_ERROR"].add((body["invocation_id"], event_id))

    def counts(self) -> dict[str, dict[str, int]]:
        per_session = Counter(
            session for key, session in self.invocation_session.items() if self.invocations.get(key)
        )
        part_of = (
            len(self.pairs["PART_OF"])
            + len(self.prompt_session)
            + sum(1 for prompt in self.responses.values() if prompt in self.prompt_session)
        )
        nodes = {
            "Invocation": len(self.invocations),
            "Model": len(self.models),
            "Prompt": len(self.prompts | self.named_prompts),
            "Response": len(self.responses.keys() | self.named_responses),
            "Session": len(self.sessions),
            "User": len(self.users),
            "Error": len(self.errors),
            "PerformanceMetric": len(self.metrics),
        }
        relationships = {
            "USES_MODEL": len(self.pairs["USES_MODEL"]),
            "HAS_PROMPT": len(self.pairs["HAS_PROMPT"]),
            "PRODUCED": len(self.pairs["PRODUCED"]),
            "GENERATED": len(self.responses),
            "PART_OF": part_of,
            "INITIATED_BY": len(self.pairs["INITIATED_BY"]),
            "HAS_METRIC": len(self.pairs["HAS_METRIC"]),
            "CAUSED_ERROR": len(self.pairs["CAUSED_ERROR"]),
            "FOLLOWED_BY": sum(count - 1 for count in per_session.values()),
        }
        return {
            "nodes": {k: v for k, v in nodes.items() if v},
            "relationships": {k: v for k, v in relationships.items() if v},
        }


@dataclass(frozen=True)
class Expectation:
    graph: dict[str, dict[str, int]]
    dead_letters: Counter[str]
    duplicates: int
    loaded: int


def expect(values: Iterable[bytes | None]) -> Expectation:
    """Everything the oracle predicts for the records, in one pass."""
    graph = _Graph()
    dead_letters: Counter[str] = Counter()
    seen: set[str] = set()
    duplicates = loaded = 0
    for value in values:
        reason, record = classify(value)
        if reason is not None or record is None:
            dead_letters[reason or "invalid_json"] += 1
            continue
        if record["event_id"] in seen:
            duplicates += 1
            continue
        seen.add(record["event_id"])
        loaded += 1
        graph.add(record)
    return Expectation(graph.counts(), dead_letters, duplicates, loaded)


def expected_graph(values: Iterable[bytes | None]) -> dict[str, dict[str, int]]:
    """{"nodes": {label: count}, "relationships": {type: count}} (see the module docstring)."""
    return expect(values).graph


def expected_dead_letters(values: Iterable[bytes | None]) -> Counter[str]:
    return expect(values).dead_letters


def expected_duplicates(values: Iterable[bytes | None]) -> int:
    """Records whose event_id an earlier accepted record already had, over the whole stream."""
    return expect(values).duplicates
