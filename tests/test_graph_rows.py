"""Folding a batch's events of one invocation into one parameter row (no server needed)."""

from __future__ import annotations

import itertools
from typing import Any

from memgraph_pipelines.graph.cypher import STATUS_RANKED_PROPERTIES, TOKEN_RANKED_PROPERTIES
from memgraph_pipelines.graph.rows import fold_invocations, status_rank, tokens_rank


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
        fold_invocations([dict(r) for r in order])
        for order in itertools.permutations([START, COMPLETE, LATE_START])
    ]
    assert all(len(folded) == 1 for folded in results)
    assert all(folded == results[0] for folded in results)


def test_each_property_from_the_best_ranked_event_that_has_it() -> None:
    (row,) = fold_invocations([START, COMPLETE, LATE_START])
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
    assert fold_invocations([START, other]) == [START, other]
