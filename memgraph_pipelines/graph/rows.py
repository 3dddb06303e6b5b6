"""Staged Arrow tables -> parameter rows for the Cypher in ``graph.cypher``. Plain module.

Rows are plain dicts of Python scalars (the driver's parameter types). Entities named by many
events (Model, Session, User) are aggregated here to one row per key, with min/max or a
deterministic pick, so the query needs no per-row ordering.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pyarrow as pa

from memgraph_pipelines.graph.cypher import STATUS_RANKED_PROPERTIES, TOKEN_RANKED_PROPERTIES

Row = dict[str, Any]

_PROMPT_PROPS = (
    "template",
    "classification",
    "text_hmac",
    "has_sensitive_content",
    "token_count",
    "model_id",
)
_RESPONSE_PROPS = (
    "finish_reason",
    "classification",
    "text_hmac",
    "has_sensitive_content",
    "token_count",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "ttft_ms",
    "cost_usd",
)
_ERROR_PROPS = ("error_type", "message", "severity", "recoverable")
_METRIC_PROPS = ("metric_type", "value", "percentile")
_INVOCATION_COLUMNS = (
    "status",
    "model_id",
    "provider",
    "session_id",
    "user_id",
    "prompt_event_id",
    "response_event_id",
    "token_count",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "cost_usd",
    "trace_id",
    "span_id",
    "parent_span_id",
    "source_partition",
    "source_offset",
)


def status_rank(status: str | None, ts_ms: int, event_id: str) -> str:
    """(is_final, ts_ms, event_id) as one string that compares in the same order."""
    is_final = status is not None and status != "started"
    return f"{int(is_final)}:{ts_ms:016d}:{event_id}"


def tokens_rank(ts_ms: int, event_id: str) -> str:
    return f"{ts_ms:016d}:{event_id}"


def _best(ranked: list[Row], prop: str) -> Any:
    """The value of ``prop`` from the first row of ``ranked`` that has one."""
    return next((row[prop] for row in ranked if row[prop] is not None), None)


def fold_invocations(rows: list[Row]) -> list[Row]:
    """One row per invocation: a batch's events of one invocation folded the way the graph
    merges them, without depending on their order. Each status-ranked property comes from the
    highest-ranked event that has it, each token count from the latest event that has one, the
    timestamp from the earliest event."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row["id"], []).append(row)
    folded = []
    for group in groups.values():
        if len(group) == 1:
            folded.append(group[0])
            continue
        by_status = sorted(group, key=itemgetter("status_rank"), reverse=True)
        row = dict(by_status[0])
        for prop in STATUS_RANKED_PROPERTIES:
            if row[prop] is None:
                row[prop] = _best(by_status, prop)
        by_tokens = sorted(
            (r for r in group if r["tokens_rank"] is not None),
            key=itemgetter("tokens_rank"),
            reverse=True,
        )
        for prop in TOKEN_RANKED_PROPERTIES:
            row[prop] = _best(by_tokens, prop)
        row["tokens_rank"] = by_tokens[0]["tokens_rank"] if by_tokens else None
        row["ts_ms"] = min(r["ts_ms"] for r in group)
        folded.append(row)
    return folded


def _records(tables: dict[str, pa.Table], name: str) -> list[Row]:
    table = tables.get(name)
    return [] if table is None else table.to_pylist()


def _text_props(record: Row, names: Iterable[str]) -> Row:
    props = {name: record.get(name) for name in names}
    # A protected row carries only its vault reference: never both text and content_ref.
    if record.get("content_ref") is not None:
        props["content_ref"] = record["content_ref"]
        props["text"] = None
    else:
        props["content_ref"] = None
        props["text"] = record.get("text")
    return props


@dataclass
class _Seen:
    """Aggregate of one Session or User over a batch."""

    first_ms: int
    last_ms: int
    #: property -> (ts_ms, value) of the earliest event that named a value
    earliest: dict[str, tuple[int, str]] = field(default_factory=dict)

    def add(self, ts_ms: int, values: dict[str, str | None]) -> None:
        self.first_ms = min(self.first_ms, ts_ms)
        self.last_ms = max(self.last_ms, ts_ms)
        for key, value in values.items():
            if value is not None and (
                key not in self.earliest or (ts_ms, value) < self.earliest[key]
            ):
                self.earliest[key] = (ts_ms, value)

    def value(self, key: str) -> str | None:
        picked = self.earliest.get(key)
        return None if picked is None else picked[1]


def _see(seen: dict[str, _Seen], key: str, ts_ms: int, values: dict[str, str | None]) -> None:
    if key not in seen:
        seen[key] = _Seen(ts_ms, ts_ms)
    seen[key].add(ts_ms, values)


@dataclass
class BatchRows:
    """Every parameter list of one batch load, by step."""

    models: list[Row]
    sessions: list[Row]
    users: list[Row]
    invocations: list[Row]
    token_updates: list[Row]
    prompts: list[Row]
    responses: list[Row]
    errors: list[Row]
    metrics: list[Row]
    session_ids: list[str]
    followed_by_session_ids: list[str]


def build_rows(tables: dict[str, pa.Table]) -> BatchRows:
    invocation_records = _records(tables, "invocations")
    prompt_records = _records(tables, "prompts")

    invocations = []
    for rec in invocation_records:
        row = {name: rec.get(name) for name in _INVOCATION_COLUMNS}
        row["id"] = rec["invocation_id"]
        row["ts_ms"] = rec["ts_ms"]
        row["status_rank"] = status_rank(rec.get("status"), rec["ts_ms"], rec["event_id"])
        has_tokens = (
            rec.get("prompt_tokens") is not None or rec.get("completion_tokens") is not None
        )
        row["tokens_rank"] = tokens_rank(rec["ts_ms"], rec["event_id"]) if has_tokens else None
        invocations.append(row)

    token_updates = [
        {
            "id": rec["invocation_id"],
            "prompt_tokens": rec.get("prompt_tokens"),
            "completion_tokens": rec.get("completion_tokens"),
            "tokens_rank": tokens_rank(rec["ts_ms"], rec["event_id"]),
        }
        for rec in _records(tables, "token_updates")
        if rec.get("prompt_tokens") is not None or rec.get("completion_tokens") is not None
    ]

    prompts = [
        {
            "id": rec["event_id"],
            "ts_ms": rec["ts_ms"],
            "session_id": rec["session_id"],
            "props": _text_props(rec, _PROMPT_PROPS),
        }
        for rec in prompt_records
    ]
    responses = [
        {
            "id": rec["event_id"],
            "ts_ms": rec["ts_ms"],
            "prompt_event_id": rec["prompt_event_id"],
            "props": _text_props(rec, _RESPONSE_PROPS),
        }
        for rec in _records(tables, "responses")
    ]

    def events(name: str, props: tuple[str, ...]) -> list[Row]:
        return [
            {
                "id": rec["event_id"],
                "ts_ms": rec["ts_ms"],
                "invocation_id": rec.get("invocation_id"),
                "props": {p: rec.get(p) for p in props},
            }
            for rec in _records(tables, name)
        ]

    errors = events("errors", _ERROR_PROPS)
    metrics = events("metrics", _METRIC_PROPS)

    # Model, Session and User are named by invocations and prompts alike.
    providers: dict[str, str | None] = {}
    sessions: dict[str, _Seen] = {}
    users: dict[str, _Seen] = {}
    for rec in (*invocation_records, *prompt_records):
        model_id, provider = rec.get("model_id"), rec.get("provider")
        if model_id is not None:
            known = providers.get(model_id)
            providers[model_id] = provider if known is None else min(known, provider or known)
        ts_ms = rec["ts_ms"]
        if rec.get("session_id") is not None:
            values = {
                "user_id": rec.get("user_id"),
                "application_id": rec.get("application_id"),
                "purpose": rec.get("purpose"),
            }
            _see(sessions, rec["session_id"], ts_ms, values)
        if rec.get("user_id") is not None:
            _see(users, rec["user_id"], ts_ms, {})

    session_rows = [
        {
            "id": session_id,
            "first_ms": seen.first_ms,
            "last_ms": seen.last_ms,
            "user_id": seen.value("user_id"),
            "application_id": seen.value("application_id"),
            "purpose": seen.value("purpose"),
        }
        for session_id, seen in sessions.items()
    ]
    return BatchRows(
        models=[{"id": m, "provider": p} for m, p in providers.items()],
        sessions=session_rows,
        users=[{"id": u, "first_ms": seen.first_ms} for u, seen in users.items()],
        invocations=fold_invocations(invocations),
        token_updates=token_updates,
        prompts=prompts,
        responses=responses,
        errors=errors,
        metrics=metrics,
        session_ids=list(sessions),
        followed_by_session_ids=list(
            dict.fromkeys(r["session_id"] for r in invocations if r["session_id"] is not None)
        ),
    )
