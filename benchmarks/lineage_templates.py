"""The lineage graph written the way a hand-configured sink would: one Cypher template per
event type over a list of events, each event reshaped by a small transform (snake_case keys,
nested fields lifted, timestamps in epoch ms).

The templates build the pipeline's nodes and relationships (Invocation, Model, Session, User,
Prompt, Response, Error, PerformanceMetric with USES_MODEL, PART_OF, INITIATED_BY, HAS_PROMPT,
PRODUCED, GENERATED, CAUSED_ERROR, HAS_METRIC), so the baselines do comparable graph work. They
do less than the pipeline all the same: no FOLLOWED_BY chain, no placeholders, no order-
independent status rules, no Response->Session link, no validation, no dead-letter topic, and
sensitive text stored in clear instead of vaulted.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

_LINKS = """
FOREACH (_ IN CASE WHEN e.session_id IS NULL THEN [] ELSE [1] END |
  MERGE (s:Session {id: e.session_id})
  MERGE (n)-[:PART_OF]->(s)
  FOREACH (_ IN CASE WHEN e.user_id IS NULL THEN [] ELSE [1] END |
    MERGE (u:User {id: e.user_id})
    MERGE (s)-[:INITIATED_BY]->(u)))
"""

_INVOCATION = (
    """
UNWIND $events AS e
MERGE (n:Invocation {id: e.invocation_id})
SET n.model_id = coalesce(e.model_id, n.model_id), n.provider = coalesce(e.provider, n.provider),
    n.status = coalesce(e.status, n.status), n.timestamp = datetime({epochMillis: e.ts}),
    n.token_count = coalesce(e.token_count, n.token_count),
    n.prompt_tokens = coalesce(e.prompt_tokens, n.prompt_tokens),
    n.completion_tokens = coalesce(e.completion_tokens, n.completion_tokens),
    n.latency_ms = coalesce(e.latency_ms, n.latency_ms),
    n.cost_usd = coalesce(e.cost_usd, n.cost_usd),
    n.session_id = coalesce(e.session_id, n.session_id)
MERGE (m:Model {id: e.model_id})
MERGE (n)-[:USES_MODEL]->(m)
FOREACH (_ IN CASE WHEN e.prompt_event_id IS NULL THEN [] ELSE [1] END |
  MERGE (p:Prompt {id: e.prompt_event_id}) MERGE (n)-[:HAS_PROMPT]->(p))
FOREACH (_ IN CASE WHEN e.response_event_id IS NULL THEN [] ELSE [1] END |
  MERGE (r:Response {id: e.response_event_id}) MERGE (n)-[:PRODUCED]->(r))
FOREACH (_ IN CASE WHEN e.error_type IS NULL THEN [] ELSE [1] END |
  MERGE (x:Error {id: e.event_id})
  SET x.error_type = e.error_type, x.message = e.message,
      x.timestamp = datetime({epochMillis: e.ts})
  MERGE (n)-[:CAUSED_ERROR]->(x))
"""
    + _LINKS
)

TEMPLATES: dict[str, str] = {
    "invocation": _INVOCATION,
    "llm.tokens.consumed": """
UNWIND $events AS e
MERGE (n:Invocation {id: e.invocation_id})
SET n.prompt_tokens = e.prompt_tokens, n.completion_tokens = e.completion_tokens
""",
    "llm.latency.measured": """
UNWIND $events AS e
MERGE (x:PerformanceMetric {id: e.event_id})
SET x.metric_type = e.metric_type, x.value = e.value, x.percentile = e.percentile,
    x.timestamp = datetime({epochMillis: e.ts})
MERGE (n:Invocation {id: e.invocation_id})
MERGE (n)-[:HAS_METRIC]->(x)
""",
    "llm.error.occurred": """
UNWIND $events AS e
MERGE (x:Error {id: e.event_id})
SET x.error_type = e.error_type, x.message = e.message, x.severity = e.severity,
    x.recoverable = e.recoverable, x.timestamp = datetime({epochMillis: e.ts})
FOREACH (_ IN CASE WHEN e.invocation_id IS NULL THEN [] ELSE [1] END |
  MERGE (n:Invocation {id: e.invocation_id}) MERGE (n)-[:CAUSED_ERROR]->(x))
""",
    "llm.prompt.submitted": """
UNWIND $events AS e
MERGE (n:Prompt {id: e.event_id})
SET n.text = e.text, n.template = e.template, n.classification = e.classification,
    n.timestamp = datetime({epochMillis: e.ts}), n.model_id = e.model_id
MERGE (m:Model {id: e.model_id})
"""
    + _LINKS,
    "llm.response.generated": """
UNWIND $events AS e
MERGE (n:Response {id: e.event_id})
SET n.text = e.text, n.finish_reason = e.finish_reason, n.classification = e.classification,
    n.timestamp = datetime({epochMillis: e.ts}), n.token_count = e.token_count
MERGE (p:Prompt {id: e.prompt_event_id})
MERGE (p)-[:GENERATED]->(n)
""",
}

_INVOCATION_TYPES = frozenset(
    {"llm.invocation.start", "llm.invocation.complete", "llm.invocation.error"}
)


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {_CAMEL.sub("_", k).lower(): _snake(v) for k, v in value.items()}
    return value


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            return None
    return None


def lineage_event(doc: Any) -> tuple[str, dict[str, Any]] | None:
    """(template name, the event's parameters) of one decoded record, or None if unusable."""
    if not isinstance(doc, dict):
        return None
    doc = _snake(doc)
    event_type = str(doc.get("event_type") or "").lower()
    payload = doc.get("payload") if isinstance(doc.get("payload"), dict) else doc
    ts = _epoch_ms(doc.get("timestamp"))
    event_id = doc.get("event_id")
    if not isinstance(event_id, str) or ts is None:
        return None
    e: dict[str, Any] = {"event_id": event_id, "ts": ts}
    if event_type in _INVOCATION_TYPES:
        status = payload.get("status")
        e.update({k: payload.get(k) for k in (
            "model_id", "provider", "token_count", "prompt_tokens", "completion_tokens",
            "latency_ms", "cost_usd", "session_id", "user_id", "prompt_event_id",
            "response_event_id", "error_type", "message",
        )})  # fmt: skip
        e["invocation_id"] = payload.get("invocation_id") or event_id
        e["status"] = {"llm.invocation.start": "started", "llm.invocation.error": "error"}.get(
            event_type, status.lower() if isinstance(status, str) else None
        )
        return ("invocation", e) if e["model_id"] else None
    if event_type == "llm.prompt.submitted":
        prompt, session = payload.get("prompt") or {}, payload.get("session") or {}
        model = payload.get("model") or {}
        e.update(
            text=prompt.get("text"), template=prompt.get("template"),
            classification=payload.get("classification"), session_id=session.get("id"),
            user_id=session.get("user_id"), model_id=model.get("id"),
        )  # fmt: skip
        return (event_type, e) if e["model_id"] else None
    if event_type == "llm.response.generated":
        response, usage = payload.get("response") or {}, payload.get("usage") or {}
        e.update(
            text=response.get("text"), finish_reason=response.get("finish_reason"),
            classification=payload.get("classification"), token_count=usage.get("total_tokens"),
            prompt_event_id=payload.get("prompt_event_id"),
        )  # fmt: skip
        return (event_type, e) if e["prompt_event_id"] else None
    if event_type in TEMPLATES:
        e.update({k: v for k, v in payload.items() if not isinstance(v, dict | list)})
        if event_type != "llm.error.occurred" and not e.get("invocation_id"):
            return None
        return event_type, e
    return None
