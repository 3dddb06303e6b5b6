"""A batch's parameter rows: invocation events folded into one row each, entities named by
many events aggregated (no server needed)."""

from __future__ import annotations

import itertools
from typing import Any

import pyarrow as pa

from memgraph_pipelines.graph.cypher import STATUS_RANKED_PROPERTIES, TOKEN_RANKED_PROPERTIES
from memgraph_pipelines.graph.rows import (
    INVOCATION_ROW_SCHEMA,
    build_rows,
    fold_invocations,
    status_rank,
    tokens_rank,
)
from tests.graph_tables import invocation, make_tables, synthetic_tables


def _fold(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = pa.Table.from_pylist(rows, schema=INVOCATION_ROW_SCHEMA)
    return fold_invocations(events).to_pylist()


def _row(event_id: str, ts_ms: int, status: str | None, **props: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys((*STATUS_RANKED_PROPERTIES, *TOKEN_RANKED_PROPERTIES))
    row.update(props, id="inv-1", status=status, ts_ms=ts_ms)
    row["status_rank"] = status_rank(status, ts_ms, event_id)
    has_tokens = props.get("prompt_tokens") is not None or props.get("completion_tokens")
    row["tokens_rank"] = tokens_rank(ts_ms, event_id) if has_tokens else None
    return row


START = _row("e1", 1_000, "started", model_id="m-1", session_id="s-1", latency_ms=None)
COMPLETE = _row("e2", 3_000, "success", model_id="m-2", latency_ms=120, prompt_tokens=7)
# Later than the completion but not final: it must not win the status.
LATE_START = _row("e3", 5_000, "started", session_id="s-2", trace_id="t-3", prompt_tokens=9)


def test_one_row_per_invocation_whatever_the_order() -> None:
    results = [
        _fold([dict(r) for r in order])
        for order in itertools.permutations([START, COMPLETE, LATE_START])
    ]
    assert all(len(folded) == 1 for folded in results)
    assert all(folded == results[0] for folded in results)


def test_each_property_from_the_best_ranked_event_that_has_it() -> None:
    (row,) = _fold([START, COMPLETE, LATE_START])
    assert row["status"] == "success"  # the final event wins over a later start
    assert row["status_rank"] == COMPLETE["status_rank"]
    assert row["model_id"] == "m-2"
    assert row["latency_ms"] == 120
    # The winner has no session: the next-ranked event that has one gives it.
    assert row["session_id"] == "s-2"
    assert row["trace_id"] == "t-3"
    # Token counts follow the latest event that has them, not the status.
    assert row["prompt_tokens"] == 9
    assert row["tokens_rank"] == LATE_START["tokens_rank"]
    # The invocation started with its earliest event.
    assert row["ts_ms"] == 1_000


def test_distinct_invocations_are_left_alone() -> None:
    other = dict(COMPLETE, id="inv-2")
    assert _fold([START, other]) == [START, other]


def _by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: str(row["id"]))


def _reversed(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    return {name: table.take(list(range(table.num_rows))[::-1]) for name, table in tables.items()}


def test_batch_rows_do_not_depend_on_row_order() -> None:
    tables = synthetic_tables(3_000)
    forward, backward = build_rows(tables), build_rows(_reversed(tables))
    for name in ("models", "sessions", "users", "invocations", "token_updates", "prompts"):
        assert _by_id(getattr(forward, name)) == _by_id(getattr(backward, name)), name
    assert sorted(forward.session_ids) == sorted(backward.session_ids)
    assert len(forward.invocations) == len({row["id"] for row in forward.invocations})


def test_entities_named_by_many_events_take_the_earliest_and_extreme_values() -> None:
    tables = make_tables(
        invocations=[
            invocation("e1", "i1", 5_000, "success", session_id="s1", user_id="u-late",
                       model_id="m1", provider="zeta"),
            invocation("e2", "i2", 9_000, "success", session_id="s1", model_id="m1",
                       provider="alpha"),
        ],
        prompts=[
            {"event_id": "p1", "ts_ms": 2_000, "session_id": "s1", "user_id": "u-early",
             "purpose": "support", "model_id": "m1", "text": "t"},
        ],
    )  # fmt: skip
    rows = build_rows(tables)
    assert rows.models == [{"id": "m1", "provider": "alpha"}]
    (session,) = rows.sessions
    assert session == {
        "id": "s1",
        "first_ms": 2_000,
        "last_ms": 9_000,
        "user_id": "u-early",
        "application_id": None,
        "purpose": "support",
    }
    assert _by_id(rows.users) == [
        {"id": "u-early", "first_ms": 2_000},
        {"id": "u-late", "first_ms": 5_000},
    ]
    (prompt,) = rows.prompts
    assert prompt["props"]["text"] == "t" and prompt["props"]["content_ref"] is None
    assert rows.followed_by_session_ids == ["s1"]
