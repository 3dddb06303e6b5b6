"""Staged Arrow tables -> parameter rows for the Cypher in ``graph.cypher``. Plain module.

Rows are plain dicts of Python scalars (the driver's parameter types), built column-wise with
Arrow. Entities named by many events (Model, Session, User) are aggregated here to one row per
key, with min/max or a deterministic pick, so the query needs no per-row ordering.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from memgraph_pipelines.graph.cypher import STATUS_RANKED_PROPERTIES, TOKEN_RANKED_PROPERTIES
from memgraph_pipelines.telemetry.schemas import INVOCATIONS, TABLE_SCHEMAS

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


def status_rank(status: str | None, ts_ms: int, event_id: str) -> str:
    """(is_final, ts_ms, event_id) as one string that compares in the same order."""
    is_final = status is not None and status != "started"
    return f"{int(is_final)}:{ts_ms:016d}:{event_id}"


def tokens_rank(ts_ms: int, event_id: str) -> str:
    return f"{ts_ms:016d}:{event_id}"


#: One row per invocation event (then per invocation, once folded), as the query reads it.
INVOCATION_ROW_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("ts_ms", pa.int64()),
        pa.field("status_rank", pa.string()),
        pa.field("tokens_rank", pa.string()),
    ]
    + [INVOCATIONS.field(name) for name in (*STATUS_RANKED_PROPERTIES, *TOKEN_RANKED_PROPERTIES)]
)


def _first_by_rank(table: pa.Table, rank: str, props: Sequence[str]) -> pa.Table:
    """Per id: the max of ``rank`` and, for each of ``props``, the value of the highest-ranked
    row that has one (Arrow's ``first`` skips nulls; ties keep input order, the sort is
    stable)."""
    ordered = table.sort_by([("id", "ascending"), (rank, "descending")])
    aggregates = [(prop, "first") for prop in props] + [(rank, "max"), ("ts_ms", "min")]
    grouped = ordered.group_by("id", use_threads=False).aggregate(aggregates)
    renamed = {f"{prop}_first": prop for prop in props} | {
        f"{rank}_max": rank,
        "ts_ms_min": "ts_ms",
    }
    return grouped.rename_columns([renamed.get(name, name) for name in grouped.column_names])


def fold_invocations(events: pa.Table) -> pa.Table:
    """One row per invocation: a batch's events of one invocation folded the way the graph
    merges them, without depending on their order. Each status-ranked property comes from the
    highest-ranked event that has it, each token count from the latest event that has one, the
    timestamp from the earliest event. ``events`` has ``INVOCATION_ROW_SCHEMA``."""
    if pc.count_distinct(events["id"]).as_py() == events.num_rows:
        return events
    by_status = _first_by_rank(events, "status_rank", STATUS_RANKED_PROPERTIES)
    with_tokens = events.filter(pc.is_valid(events["tokens_rank"]))
    by_tokens = _first_by_rank(with_tokens, "tokens_rank", TOKEN_RANKED_PROPERTIES)
    position = pc.index_in(by_status["id"], value_set=by_tokens["id"])
    columns = {name: by_status[name] for name in ("id", "ts_ms", "status_rank")}
    for name in ("tokens_rank", *TOKEN_RANKED_PROPERTIES):
        columns[name] = pc.take(by_tokens[name], position)
    columns |= {name: by_status[name] for name in STATUS_RANKED_PROPERTIES}
    return pa.table([columns[name] for name in INVOCATION_ROW_SCHEMA.names], INVOCATION_ROW_SCHEMA)


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """``table[name]``, or nulls if a hand-built table leaves it out (staged ones never do)."""
    if name in table.column_names:
        return table[name]
    return pa.chunked_array([pa.nulls(table.num_rows)])


def _struct(table: pa.Table, names: Iterable[str], **extra: pa.ChunkedArray) -> pa.StructArray:
    columns = {name: _column(table, name) for name in names} | extra
    arrays = [column.combine_chunks() for column in columns.values()]
    return pa.StructArray.from_arrays(arrays, names=list(columns))


def _rows(**columns: pa.ChunkedArray | pa.Array) -> list[Row]:
    """Rows as dicts, built by Arrow (struct columns become nested dicts): faster than
    assembling each dict in Python, and the load's critical path waits for them."""
    return pa.table(columns).to_pylist()


def _text_props(table: pa.Table, names: Iterable[str]) -> pa.StructArray:
    # A protected row carries only its vault reference: never both text and content_ref.
    content_ref = _column(table, "content_ref")
    text = pc.if_else(pc.is_valid(content_ref), pa.scalar(None, pa.string()), table["text"])
    return _struct(table, names, content_ref=content_ref, text=text)


def _event_props(table: pa.Table, names: Iterable[str]) -> list[Row]:
    return _rows(
        id=table["event_id"],
        ts_ms=table["ts_ms"],
        invocation_id=_column(table, "invocation_id"),
        props=_struct(table, names),
    )


def _earliest_values(named: pa.Table, key: str, values: Iterable[str]) -> dict[str, pa.Table]:
    """Per ``key``, the value of each of ``values`` from the earliest (ts_ms, value) that
    names one: ordered first after a sort, so the pick does not depend on row order."""
    picked = {}
    for name in values:
        present = named.filter(pc.is_valid(named[name])).select([key, "ts_ms", name])
        ordered = present.sort_by([(key, "ascending"), ("ts_ms", "ascending"), (name, "ascending")])
        first = ordered.group_by(key, use_threads=False).aggregate([(name, "first")])
        picked[name] = first.rename_columns([key, name])
    return picked


def _lookup(keys: pa.ChunkedArray, table: pa.Table, key: str, name: str) -> pa.Array:
    """``table[name]`` aligned with ``keys`` (null where a key has no row)."""
    index = pc.index_in(keys, value_set=table[key])
    return pc.take(table[name], index)


#: What names a Model, Session or User, in invocations and prompts alike.
_ENTITY_SCHEMA = pa.schema(
    [("ts_ms", pa.int64())]
    + [
        (name, pa.string())
        for name in ("model_id", "provider", "session_id", "user_id", "application_id", "purpose")
    ]
)


def _named_entities(invocations: pa.Table, prompts: pa.Table) -> pa.Table:
    parts = [
        pa.table({name: _column(table, name) for name in _ENTITY_SCHEMA.names}).cast(_ENTITY_SCHEMA)
        for table in (invocations, prompts)
    ]
    return pa.concat_tables(parts)


def _models(named: pa.Table) -> list[Row]:
    with_model = named.filter(pc.is_valid(named["model_id"]))
    grouped = with_model.group_by("model_id", use_threads=False).aggregate([("provider", "min")])
    return _rows(id=grouped["model_id"], provider=grouped["provider_min"])


#: Session properties set once, from the earliest event that names them.
_SESSION_VALUES = ("user_id", "application_id", "purpose")


def _sessions(named: pa.Table) -> list[Row]:
    with_session = named.filter(pc.is_valid(named["session_id"]))
    seen = with_session.group_by("session_id", use_threads=False).aggregate(
        [("ts_ms", "min"), ("ts_ms", "max")]
    )
    ids = seen["session_id"]
    earliest = _earliest_values(with_session, "session_id", _SESSION_VALUES)
    return _rows(
        id=ids,
        first_ms=seen["ts_ms_min"],
        last_ms=seen["ts_ms_max"],
        **{name: _lookup(ids, table, "session_id", name) for name, table in earliest.items()},
    )


def _users(named: pa.Table) -> list[Row]:
    with_user = named.filter(pc.is_valid(named["user_id"]))
    seen = with_user.group_by("user_id", use_threads=False).aggregate([("ts_ms", "min")])
    return _rows(id=seen["user_id"], first_ms=seen["ts_ms_min"])


def _has_tokens(table: pa.Table) -> pa.ChunkedArray:
    return pc.or_(pc.is_valid(table["prompt_tokens"]), pc.is_valid(table["completion_tokens"]))


def invocation_events(table: pa.Table) -> pa.Table:
    """The staged invocations as one row per event with its ranks (``INVOCATION_ROW_SCHEMA``)."""
    event_ids = table["event_id"].to_pylist()
    ts = table["ts_ms"].to_pylist()
    status_ranks = [
        status_rank(*args) for args in zip(table["status"].to_pylist(), ts, event_ids, strict=True)
    ]
    tokens_ranks = [
        tokens_rank(t, e) if has else None
        for t, e, has in zip(ts, event_ids, _has_tokens(table).to_pylist(), strict=True)
    ]
    columns = {name: _column(table, name) for name in INVOCATION_ROW_SCHEMA.names[4:]}
    return pa.table(
        {
            "id": table["invocation_id"],
            "ts_ms": table["ts_ms"],
            "status_rank": pa.array(status_ranks, pa.string()),
            "tokens_rank": pa.array(tokens_ranks, pa.string()),
            **columns,
        }
    ).cast(INVOCATION_ROW_SCHEMA)


def _token_update_rows(table: pa.Table) -> list[Row]:
    table = table.filter(_has_tokens(table))
    ranks = [
        tokens_rank(t, e)
        for t, e in zip(table["ts_ms"].to_pylist(), table["event_id"].to_pylist(), strict=True)
    ]
    return _rows(
        id=table["invocation_id"],
        prompt_tokens=table["prompt_tokens"],
        completion_tokens=table["completion_tokens"],
        tokens_rank=pa.array(ranks, pa.string()),
    )


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
    empty = {name: schema.empty_table() for name, schema in TABLE_SCHEMAS.items()}
    table = {**empty, **tables}.__getitem__
    invocations, prompts, responses = table("invocations"), table("prompts"), table("responses")
    named = _named_entities(invocations, prompts)
    sessions = _sessions(named)
    invoked_sessions = pc.unique(invocations["session_id"].drop_null())
    return BatchRows(
        models=_models(named),
        sessions=sessions,
        users=_users(named),
        invocations=fold_invocations(invocation_events(invocations)).to_pylist(),
        token_updates=_token_update_rows(table("token_updates")),
        prompts=_rows(
            id=prompts["event_id"],
            ts_ms=prompts["ts_ms"],
            session_id=prompts["session_id"],
            props=_text_props(prompts, _PROMPT_PROPS),
        ),
        responses=_rows(
            id=responses["event_id"],
            ts_ms=responses["ts_ms"],
            prompt_event_id=responses["prompt_event_id"],
            props=_text_props(responses, _RESPONSE_PROPS),
        ),
        errors=_event_props(table("errors"), _ERROR_PROPS),
        metrics=_event_props(table("metrics"), _METRIC_PROPS),
        session_ids=[row["id"] for row in sessions],
        followed_by_session_ids=invoked_sessions.to_pylist(),
    )
