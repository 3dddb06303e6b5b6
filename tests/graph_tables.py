"""Test helper: staged Arrow tables built by hand (small cases) or synthetically (load speed)."""

from __future__ import annotations

import zlib
from typing import Any

import pyarrow as pa

from memgraph_pipelines.telemetry.schemas import TABLE_SCHEMAS

#: Values a row gets unless it says otherwise.
_DEFAULTS: dict[str, Any] = {
    "source_partition": 0,
    "classification": "internal",
    "has_sensitive_content": False,
    "schema_version": "2",
}


def make_tables(**rows_by_table: list[dict[str, Any]]) -> dict[str, pa.Table]:
    """Every staged table (empty unless given), each row completed with defaults."""
    tables = {}
    for name, schema in TABLE_SCHEMAS.items():
        rows = []
        for row in rows_by_table.pop(name, []):
            full = {f.name: row.get(f.name, _DEFAULTS.get(f.name)) for f in schema}
            if full["source_offset"] is None:  # stable per event, as a replay reads it again
                full["source_offset"] = zlib.crc32(full["event_id"].encode())
            rows.append(full)
        tables[name] = pa.Table.from_pylist(rows, schema=schema)
    if rows_by_table:
        raise KeyError(f"unknown tables: {sorted(rows_by_table)}")
    return tables


def invocation(event_id: str, invocation_id: str, ts_ms: int, status: str, **kw: Any) -> dict:
    event_type = {"started": "llm.invocation.start", "error": "llm.invocation.error"}.get(
        status, "llm.invocation.complete"
    )
    return {
        "event_id": event_id,
        "invocation_id": invocation_id,
        "event_type": event_type,
        "ts_ms": ts_ms,
        "status": status,
        **kw,
    }


def synthetic_tables(events: int, *, base_ms: int = 1_796_000_000_000) -> dict[str, pa.Table]:
    """About ``events`` rows of realistic mix: per conversation a prompt, an invocation start and
    complete, a response, and a tokens or latency event; an error every 20th; 1 in 5 prompts
    protected (content_ref only)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_SCHEMAS}
    for u in range(round(events / 5.05)):  # 5.05 events per conversation
        ts = base_ms + u * 50
        session, user, model = f"s{u % 1500}", f"u{u % 300}", f"m{u % 12}"
        prompt_id, response_id, invocation_id = f"p{u}", f"r{u}", f"i{u}"
        if u % 5 == 0:
            text = {
                "classification": "confidential",
                "content_ref": f"vault://confidential/prompts/{prompt_id}",
                "has_sensitive_content": True,
            }
        else:
            text = {"text": "prompt text " * 20}
        common = {"session_id": session, "user_id": user, "model_id": model, "provider": "acme"}
        rows["prompts"].append(
            {"event_id": prompt_id, "ts_ms": ts, "purpose": "chat", "text_hmac": "h" * 64}
            | common
            | text
        )
        rows["invocations"] += [
            invocation(f"e{u}a", invocation_id, ts + 1, "started", prompt_event_id=prompt_id)
            | common,
            invocation(
                f"e{u}b",
                invocation_id,
                ts + 30,
                "success",
                prompt_event_id=prompt_id,
                response_event_id=response_id,
                token_count=100,
                prompt_tokens=40,
                completion_tokens=60,
                latency_ms=29.0,
                cost_usd=0.001,
            )
            | common,
        ]
        rows["responses"].append(
            {
                "event_id": response_id,
                "ts_ms": ts + 31,
                "prompt_event_id": prompt_id,
                "finish_reason": "stop",
                "token_count": 100,
                "text": "response " * 30,
                "text_hmac": "g" * 64,
            }
        )
        if u % 2:
            rows["token_updates"].append(
                {"event_id": f"t{u}", "invocation_id": invocation_id, "ts_ms": ts + 32}
                | {"prompt_tokens": 41, "completion_tokens": 61, "total_tokens": 102}
            )
        else:
            rows["metrics"].append(
                {"event_id": f"l{u}", "invocation_id": invocation_id, "ts_ms": ts + 33}
                | {"metric_type": "latency", "value": 29.0, "percentile": 95.0}
            )
        if u % 20 == 0:
            rows["errors"].append(
                {"event_id": f"x{u}", "invocation_id": invocation_id, "ts_ms": ts + 34}
                | {"error_type": "timeout", "severity": "low", "recoverable": True}
            )
    return make_tables(**rows)
