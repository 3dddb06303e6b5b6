"""Graph load against the real Neo4j server: content, order independence, replays, failures."""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Any

import pytest

from memgraph_pipelines.graph.loader import GraphLoadError, load_batch
from memgraph_pipelines.graph.migrations import apply_migrations
from memgraph_pipelines.graph.summary import graph_summary
from memgraph_pipelines.graph.wipe import delete_all
from tests.graph_snapshot import epoch_ms, graph_snapshot, node_props, relationship_keys
from tests.graph_tables import invocation, make_tables, synthetic_tables

pytestmark = pytest.mark.services

T0 = 1_796_029_200_000


@pytest.fixture
def graph(empty_graph, settings):
    apply_migrations(empty_graph, settings.neo4j_database)
    return empty_graph


def wipe(driver, database: str) -> None:
    delete_all(driver, database)


def load(driver, database: str, tables, batch_key: str = "b-1", **kw: Any):
    return load_batch(
        driver,
        database,
        tables,
        source_topic="llm-telemetry-events",
        batch_key=batch_key,
        ingested_at_ms=T0 + 10_000_000,
        **kw,
    )


PROMPT_1 = {
    "event_id": "p1",
    "ts_ms": T0 + 1000,
    "session_id": "s1",
    "user_id": "u1",
    "application_id": "ide",
    "purpose": "chat",
    "model_id": "gpt-4o",
    "provider": "openai",
    "classification": "public",
    "text": "Explain UNWIND",
    "text_hmac": "a" * 64,
    "token_count": 5,
}
PROMPT_2_PII = {
    "event_id": "p2",
    "ts_ms": T0 + 3000,
    "session_id": "s2",
    "user_id": "u2",
    "model_id": "claude",
    "provider": "anthropic",
    "classification": "pii",
    "content_ref": "vault://pii/prompts/p2",
    "text_hmac": "b" * 64,
    "has_sensitive_content": True,
}
START_1 = invocation(
    "e1", "i1", T0 + 1100, "started", model_id="gpt-4o", provider="openai",
    session_id="s1", user_id="u1", prompt_event_id="p1", source_offset=11,
)  # fmt: skip
COMPLETE_1 = invocation(
    "e2", "i1", T0 + 2000, "success", model_id="gpt-4o", session_id="s1",
    prompt_event_id="p1", response_event_id="r1", token_count=183, prompt_tokens=41,
    completion_tokens=142, latency_ms=900.0, cost_usd=0.002, source_partition=1, source_offset=12,
)  # fmt: skip
ERROR_2 = invocation("e3", "i2", T0 + 2500, "error", model_id="claude", session_id="s1")
RESPONSE_1 = {
    "event_id": "r1",
    "ts_ms": T0 + 2010,
    "prompt_event_id": "p1",
    "finish_reason": "stop",
    "text": "UNWIND turns a list into rows",
    "text_hmac": "c" * 64,
    "token_count": 183,
}
TOKENS_1 = {"event_id": "t1", "invocation_id": "i1", "ts_ms": T0 + 2020}
TOKENS_1 |= {"prompt_tokens": 42, "completion_tokens": 143, "total_tokens": 185}
METRIC_1 = {"event_id": "l1", "invocation_id": "i1", "ts_ms": T0 + 2030}
METRIC_1 |= {"metric_type": "ttft", "value": 210.0, "percentile": 95.0}
ERROR_EVENT_2 = {"event_id": "x1", "invocation_id": "i2", "ts_ms": T0 + 2500}
ERROR_EVENT_2 |= {"error_type": "rate_limit", "message": "429", "severity": "high"}


def mixed_tables():
    return make_tables(
        prompts=[PROMPT_1, PROMPT_2_PII],
        invocations=[START_1, COMPLETE_1, ERROR_2],
        responses=[RESPONSE_1],
        token_updates=[TOKENS_1],
        metrics=[METRIC_1],
        errors=[ERROR_EVENT_2],
    )


def test_mixed_batch_builds_exactly_the_expected_graph(graph, settings) -> None:
    db = settings.neo4j_database
    stats = load(graph, db, mixed_tables())
    assert stats.table_rows["invocations"] == 3 and stats.events == 9
    assert graph_summary(graph, db) == {
        "nodes": {"Error": 1, "Invocation": 2, "Model": 2, "PerformanceMetric": 1, "Prompt": 2}
        | {"Response": 1, "Session": 2, "User": 2},
        "relationships": {"CAUSED_ERROR": 1, "FOLLOWED_BY": 1, "GENERATED": 1, "HAS_METRIC": 1}
        | {"HAS_PROMPT": 1, "INITIATED_BY": 2, "PART_OF": 5, "PRODUCED": 1, "USES_MODEL": 2},
    }
    snap = graph_snapshot(graph, db)
    assert relationship_keys(snap) == {
        ("USES_MODEL", "i1", "gpt-4o"), ("USES_MODEL", "i2", "claude"),
        ("HAS_PROMPT", "i1", "p1"), ("PRODUCED", "i1", "r1"), ("GENERATED", "p1", "r1"),
        ("PART_OF", "p1", "s1"), ("PART_OF", "p2", "s2"), ("PART_OF", "i1", "s1"),
        ("PART_OF", "i2", "s1"), ("PART_OF", "r1", "s1"), ("INITIATED_BY", "s1", "u1"),
        ("INITIATED_BY", "s2", "u2"), ("HAS_METRIC", "i1", "l1"), ("CAUSED_ERROR", "i2", "x1"),
        ("FOLLOWED_BY", "i1", "i2"),
    }  # fmt: skip
    followed = [p for t, _, _, p in snap["relationships"] if t == "FOLLOWED_BY"]
    assert followed == [(("gap_ms", 1400),)]
    assert node_props(snap, "Invocation", "i1") == {
        "id": "i1", "status": "success", "model_id": "gpt-4o", "provider": "openai",
        "session_id": "s1", "user_id": "u1", "prompt_event_id": "p1", "response_event_id": "r1",
        "token_count": 183, "prompt_tokens": 42, "completion_tokens": 143, "latency_ms": 900.0,
        "cost_usd": 0.002, "timestamp": epoch_ms(T0 + 1100),
        "status_rank": f"1:{T0 + 2000:016d}:e2", "tokens_rank": f"{T0 + 2020:016d}:t1",
        "source_topic": "llm-telemetry-events", "source_partition": 1, "source_offset": 12,
        "batch_key": "b-1", "ingested_at": epoch_ms(T0 + 10_000_000),
    }  # fmt: skip
    assert node_props(snap, "Invocation", "i2")["status"] == "error"
    assert node_props(snap, "Prompt", "p1") == {
        "id": "p1", "timestamp": epoch_ms(T0 + 1000), "classification": "public",
        "text": "Explain UNWIND", "text_hmac": "a" * 64, "has_sensitive_content": False,
        "token_count": 5, "model_id": "gpt-4o",
    }  # fmt: skip
    assert node_props(snap, "Response", "r1")["finish_reason"] == "stop"
    assert node_props(snap, "Session", "s1") == {
        "id": "s1", "user_id": "u1", "application_id": "ide", "purpose": "chat",
        "started_at": epoch_ms(T0 + 1000), "last_seen_at": epoch_ms(T0 + 2500),
    }  # fmt: skip
    assert node_props(snap, "User", "u1") == {"id": "u1", "first_seen_at": epoch_ms(T0 + 1000)}
    assert node_props(snap, "Model", "claude") == {"id": "claude", "provider": "anthropic"}
    assert node_props(snap, "Error", "x1") == {
        "id": "x1", "error_type": "rate_limit", "message": "429", "severity": "high",
        "timestamp": epoch_ms(T0 + 2500),
    }  # fmt: skip
    assert node_props(snap, "PerformanceMetric", "l1") == {
        "id": "l1", "metric_type": "ttft", "value": 210.0, "percentile": 95.0,
        "timestamp": epoch_ms(T0 + 2030),
    }  # fmt: skip
    assert not any(dict(props).get("placeholder") for _, props in snap["nodes"])


def test_referrers_first_or_last_give_the_same_graph(graph, settings) -> None:
    db = settings.neo4j_database
    referrers = make_tables(responses=[RESPONSE_1], token_updates=[TOKENS_1], metrics=[METRIC_1])
    referred = make_tables(prompts=[PROMPT_1], invocations=[START_1, COMPLETE_1])

    load(graph, db, referrers, "b-ref")
    early = graph_snapshot(graph, db)
    assert node_props(early, "Prompt", "p1") == {"id": "p1", "placeholder": True}
    assert node_props(early, "Invocation", "i1")["placeholder"] is True
    load(graph, db, referred, "b-own")
    referrers_first = graph_snapshot(graph, db)

    wipe(graph, db)
    load(graph, db, referred, "b-own")
    load(graph, db, referrers, "b-ref")
    assert graph_snapshot(graph, db) == referrers_first
    assert ("PART_OF", "r1", "s1") in relationship_keys(referrers_first)
    assert ("HAS_METRIC", "i1", "l1") in relationship_keys(referrers_first)
    assert node_props(referrers_first, "Invocation", "i1")["prompt_tokens"] == 42
    assert not any(dict(props).get("placeholder") for _, props in referrers_first["nodes"])


def test_same_batch_three_times_changes_nothing(graph, settings) -> None:
    db = settings.neo4j_database
    load(graph, db, mixed_tables())
    once = graph_snapshot(graph, db)
    load(graph, db, mixed_tables(), "b-replay")
    load(graph, db, mixed_tables(), "b-replay-2")
    assert graph_snapshot(graph, db) == once


def test_late_invocation_moves_followed_by(graph, settings) -> None:
    db = settings.neo4j_database

    def event(name: str, ts: int) -> dict:
        return invocation(f"e-{name}", name, ts, "success", model_id="m", session_id="s")

    load(graph, db, make_tables(invocations=[event("a", T0), event("c", T0 + 3000)]))
    chain = {(a[1], b[1], p) for t, a, b, p in graph_snapshot(graph, db)["relationships"]}
    assert ("a", "c", (("gap_ms", 3000),)) in chain
    load(graph, db, make_tables(invocations=[event("b", T0 + 1000)]))
    followed = {
        (a[1], b[1], p)
        for t, a, b, p in graph_snapshot(graph, db)["relationships"]
        if t == "FOLLOWED_BY"
    }
    assert followed == {("a", "b", (("gap_ms", 1000),)), ("b", "c", (("gap_ms", 2000),))}


def test_invocation_moving_session_relinks_both_chains_in_any_order(graph, settings) -> None:
    db = settings.neo4j_database

    def event(name: str, key: str, ts: int, session: str, status: str = "success") -> dict:
        return invocation(name, key, ts, status, model_id="m", session_id=session)

    first = make_tables(
        invocations=[
            event("a", "a", T0, "old"),
            event("m1", "m", T0 + 1000, "old", "started"),
            event("c", "c", T0 + 3000, "old"),
            event("d", "d", T0 + 500, "new"),
        ]
    )
    second = make_tables(invocations=[event("m2", "m", T0 + 2000, "new")])
    snapshots = []
    for batches in ((first, second), (second, first)):
        wipe(graph, db)
        for tables in batches:
            load(graph, db, tables)
        snapshots.append(graph_snapshot(graph, db))
    assert snapshots[0] == snapshots[1]
    keys = relationship_keys(snapshots[0])
    assert {k for k in keys if k[0] == "FOLLOWED_BY"} == {
        ("FOLLOWED_BY", "a", "c"),
        ("FOLLOWED_BY", "d", "m"),
    }
    assert ("PART_OF", "m", "new") in keys and ("PART_OF", "m", "old") not in keys


def test_invocation_events_in_any_order_end_the_same(graph, settings) -> None:
    db = settings.neo4j_database
    events = [
        invocation("s", "i", T0, "started", model_id="m", session_id="s", prompt_event_id="p"),
        invocation("x", "i", T0 + 1500, "error", model_id="m", latency_ms=1.0),
        invocation("c", "i", T0 + 2000, "success", model_id="m", token_count=9, prompt_tokens=4),
        # a start stamped after the completion (clock skew) never overwrites a final status
        invocation("s2", "i", T0 + 9000, "started", model_id="m-late", trace_id="tr"),
    ]
    snapshots = []
    for order in itertools.permutations(events):
        wipe(graph, db)
        load(graph, db, make_tables(invocations=list(order)))  # one chunk
        snapshots.append(graph_snapshot(graph, db))
        wipe(graph, db)
        for event in order:  # one batch per event
            load(graph, db, make_tables(invocations=[event]))
        snapshots.append(graph_snapshot(graph, db))
    assert all(s == snapshots[0] for s in snapshots)
    props = node_props(snapshots[0], "Invocation", "i")
    assert (props["status"], props["model_id"], props["token_count"]) == ("success", "m", 9)
    assert (props["latency_ms"], props["trace_id"], props["session_id"]) == (1.0, "tr", "s")
    assert props["timestamp"] == epoch_ms(T0)
    assert ("USES_MODEL", "i", "m-late") not in relationship_keys(snapshots[0])


def test_failure_between_transactions_then_rerun_ends_exact(graph, settings) -> None:
    db = settings.neo4j_database
    load(graph, db, mixed_tables(), chunk_size=1)
    expected = graph_snapshot(graph, db)
    transactions = load(graph, db, mixed_tables(), chunk_size=1).transactions
    assert transactions > 12

    class Injected(RuntimeError):
        pass

    for fail_after in (1, 5, transactions // 2, transactions - 1):
        wipe(graph, db)
        seen: list[str] = []

        def fail(step: str, rows: int, seen: list[str] = seen, limit: int = fail_after) -> None:
            seen.append(step)
            if len(seen) == limit:
                raise Injected(step)

        with pytest.raises(Injected):
            load(graph, db, mixed_tables(), chunk_size=1, on_transaction=fail)
        assert graph_snapshot(graph, db) != expected
        load(graph, db, mixed_tables(), chunk_size=1)
        assert graph_snapshot(graph, db) == expected


def test_sensitive_rows_keep_only_the_vault_reference(graph, settings) -> None:
    db = settings.neo4j_database
    secret = "my card is 4111 1111 1111 1111"
    load(graph, db, make_tables(prompts=[PROMPT_2_PII | {"text": secret}]))
    props = node_props(graph_snapshot(graph, db), "Prompt", "p2")
    assert "text" not in props
    assert props["content_ref"] == "vault://pii/prompts/p2"
    assert props["has_sensitive_content"] is True and props["text_hmac"] == "b" * 64

    # A replay after the text was found sensitive replaces the stored text by the reference.
    public = PROMPT_2_PII | {"text": secret, "content_ref": None, "classification": "internal"}
    load(graph, db, make_tables(prompts=[public]))
    load(graph, db, make_tables(prompts=[PROMPT_2_PII]))
    snap = graph_snapshot(graph, db)
    assert "text" not in node_props(snap, "Prompt", "p2")
    assert secret not in repr(snap)


def test_permanent_error_names_the_step_not_the_values(graph) -> None:
    with pytest.raises(GraphLoadError) as caught:
        load(graph, "no-such-database", mixed_tables())
    assert caught.value.step == "models"
    message = str(caught.value)
    assert "models" in message and "Neo" in message
    assert "gpt-4o" not in message and "Explain" not in message


def test_driver_debug_log_names_row_counts_not_row_values(graph, settings, caplog) -> None:
    # The driver logs each query with its parameters at DEBUG; rows must not be spelt out.
    with caplog.at_level(logging.DEBUG, logger="neo4j"):
        load(graph, settings.neo4j_database, mixed_tables())
    runs = [r.getMessage() for r in caplog.records if " C: RUN " in r.getMessage()]
    assert runs, "the driver logged no RUN message at DEBUG"
    logged = "\n".join(runs)
    assert "<2 rows>" in logged  # the two prompts
    assert "Explain UNWIND" not in logged and "u1" not in logged and "gpt-4o" not in logged


def test_chunk_size_and_replays_do_not_change_the_graph(graph, settings) -> None:
    # Speed is the benchmark's business (`memgraph-pipelines bench`); this is about content:
    # a batch split over many transactions ends the same as one sent in a single chunk.
    db = settings.neo4j_database
    tables = synthetic_tables(6_000)
    snapshots, transactions = [], []
    for chunk_size in (500, 10_000):
        wipe(graph, db)
        transactions.append(load(graph, db, tables, chunk_size=chunk_size).transactions)
        snapshot = graph_snapshot(graph, db)
        load(graph, db, tables, chunk_size=chunk_size)
        assert graph_snapshot(graph, db) == snapshot
        snapshots.append(snapshot)
    assert transactions[0] > transactions[1]  # many chunks per step against one
    assert snapshots[0] == snapshots[1]
    assert graph_summary(graph, db)["nodes"]["Invocation"] == tables["invocations"].num_rows // 2


def test_parallel_writers_build_the_same_graph(graph, settings) -> None:
    db = settings.neo4j_database
    tables = synthetic_tables(6_000)
    snapshots, threads = [], []
    for writers in (1, 3):
        wipe(graph, db)
        names: set[str] = set()

        def note_thread(step: str, rows: int, names: set[str] = names) -> None:
            names.add(threading.current_thread().name)

        load(graph, db, tables, chunk_size=200, writers=writers, on_transaction=note_thread)
        snapshots.append(graph_snapshot(graph, db))
        threads.append(sum(name.startswith("graph-writer") for name in names))
    assert threads == [0, 3]  # the second load really wrote from three writer threads
    assert snapshots[0] == snapshots[1]
