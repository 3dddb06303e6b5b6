"""The benchmark's pure parts (record shaping, stage arithmetic, reports) and the baselines'
Cypher on a tiny input. No timing is asserted."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from benchmarks.baselines import _half_rates, connector_load, per_event_load, warm_up
from benchmarks.harness import summarize
from benchmarks.lineage_templates import TEMPLATES, lineage_event
from benchmarks.machine_cpu import CpuTimes, all_cores_bound_eps, busy_seconds, parse_cpu_line
from benchmarks.pipeline_run import STAGES, _run_stages
from benchmarks.report import markdown, write_reports

PROMPT_V2 = {
    "event_id": "p-1",
    "event_type": "llm.prompt.submitted",
    "schema_version": "2",
    "timestamp": "2026-01-01T00:00:00Z",
    "payload": {"prompt": {"text": "hi"}, "session": {"id": "s-1"}, "model": {"id": "m"}},
    "metadata": {"classification": "public"},
}
TOKENS_CAMEL = {
    "eventId": "t-1",
    "eventType": "LLM.TOKENS.CONSUMED",
    "payload": {"invocation_id": "inv-9", "prompt_tokens": 3, "tags": ["a", 1]},
}
METRIC = {
    "event_id": "m-1",
    "event_type": "llm.latency.measured",
    "timestamp": "2026-01-01T00:00:01Z",
    "payload": {"invocation_id": "i-1", "metric_type": "ttft", "value": 5.0},
}
INVOCATION_V1 = {
    "event_id": "i-1",
    "event_type": "llm.invocation.complete",
    "timestamp": 1_767_225_600_000,
    "model_id": "m",
    "status": "SUCCESS",
}


def test_templates_are_parameterised_unwinds() -> None:
    assert set(TEMPLATES) == {
        "invocation",
        "llm.tokens.consumed",
        "llm.latency.measured",
        "llm.error.occurred",
        "llm.prompt.submitted",
        "llm.response.generated",
    }
    assert all(q.lstrip().startswith("UNWIND $events AS e") for q in TEMPLATES.values())


def test_lineage_event_reshapes_records_as_they_come() -> None:
    name, e = lineage_event(PROMPT_V2)
    assert name == "llm.prompt.submitted"
    assert (e["event_id"], e["text"], e["session_id"], e["model_id"]) == ("p-1", "hi", "s-1", "m")
    assert e["ts"] == 1_767_225_600_000
    assert lineage_event(TOKENS_CAMEL) is None  # no timestamp: the sink cannot place it
    name, e = lineage_event(INVOCATION_V1)
    assert name == "invocation" and (e["invocation_id"], e["status"]) == ("i-1", "success")
    assert lineage_event([1, 2]) is None
    assert lineage_event({"event_id": "x", "event_type": "llm.unknown", "timestamp": 1}) is None


def _entry(step: str, kind: str, at: float, materialized: dict | None = None) -> SimpleNamespace:
    materialization = None
    if materialized is not None:
        materialization = SimpleNamespace(
            asset_key=SimpleNamespace(path=[step]),
            metadata={k: SimpleNamespace(value=v) for k, v in materialized.items()},
        )
    return SimpleNamespace(
        step_key=step,
        timestamp=at,
        dagster_event=SimpleNamespace(event_type_value=kind),
        asset_materialization=materialization,
    )


def test_run_stages_from_dagster_events() -> None:
    entries = [
        _entry("observatory_batch", "STEP_START", 0.0),
        _entry("observatory_batch", "STEP_OUTPUT", 2.0),
        _entry("observatory_batch", "ASSET_MATERIALIZATION", 2.1, {"stage_seconds": {"read": 1}}),
        _entry("observatory_batch", "HANDLED_OUTPUT", 2.5),
        _entry("observatory_graph", "STEP_START", 3.0),
        _entry("observatory_graph", "LOADED_INPUT", 3.2),
        _entry("observatory_graph", "ASSET_MATERIALIZATION", 6.2, {"load_seconds": 2.5}),
    ]
    stages = _run_stages(entries)
    assert stages["read"] == 1.0
    assert stages["stage"] == pytest.approx(0.5)
    assert stages["staging_read"] == pytest.approx(0.2)
    assert stages["load"] == 2.5
    assert stages["commit"] == pytest.approx(0.5)


def _results(with_baselines: bool) -> dict:
    results = {
        "started_at": "2026-12-01T08:00:00+00:00",
        "events": 1000,
        "sensor": {"median_s": 0.05, "max_s": 0.07, "first_tick_s": 0.3, "history": 20_000},
        "pipeline": {
            "seconds": 2.0,
            "events_per_s": 500.0,
            "peak_rss_mb": 400.0,
            "rss_after_imports_mb": 200.0,
            "totals": {"read": 1000},
            "stages": dict.fromkeys(STAGES, 0.1),
            "machine_busy_s": 3.0,
            "cpu_count": 2,
        },
    }
    if with_baselines:
        sweep = [
            {"chunk_size": c, "events_per_s": e, "seconds": 1000 / e, "transactions": 3}
            for c, e in ((2000, 900.0), (5000, 1000.0))
        ]
        results["ceiling"] = {
            "chunk_size": 5000,
            "events_per_s": 1000.0,
            "seconds": 1.0,
            "best_chunk_size": 5000,
            "sweep": sweep,
        }
        results["per_event"] = {
            "events": 100,
            "seconds": 1.0,
            "events_per_s": 100.0,
            "extrapolated_seconds": 10.0,
            "half_rates": [110.0, 92.0],
        }
        results["connector"] = {"events": 990, "seconds": 1.98, "events_per_s": 500.0}
    results["summary"] = summarize(results)
    return results


def test_summary_and_reports(tmp_path) -> None:
    results = _results(with_baselines=True)
    summary = results["summary"]
    assert summary["pipeline_vs_ceiling"] == 0.5 and summary["pipeline_vs_per_event"] == 5.0
    assert summary["best_chunk_size"] == 5000

    paths = write_reports(results, tmp_path)
    assert json.loads(paths["json"].read_text())["summary"] == summary
    text = paths["markdown"].read_text()
    assert "| per-event MERGE (1 tx/event) | 100 | 1.00 | 100 | 5.00x |" in text
    assert "5,000 (best)" in text and "10 s" in text
    assert "first half ran at 110 events/s, its second at 92." in text
    # 3 CPU-seconds over 2 cores: 1.5 s at best, 1000 / 1.5 events/s.
    assert summary["pipeline_cpu_bound_eps"] == 666.7
    assert "3.0 CPU-seconds in 2.0 s on 2 cores (75% busy)" in text
    assert "would still take 1.5 s (667 events/s)" in text
    assert paths["png"].read_bytes().startswith(b"\x89PNG")
    assert summary["sensor_first_tick_s"] == 0.3
    assert "20,000 batches registered before): median 0.050 s, max 0.070 s" in text
    assert "the first tick, which reads every registration, 0.300 s" in text


def test_cpu_line_of_proc_stat() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice, in ticks of 1/100 s
    times = parse_cpu_line("cpu  700 100 200 900 100 0 0 0 50 0", ticks_per_second=100)
    assert times == CpuTimes(busy_s=10.0, total_s=20.0)
    assert busy_seconds(CpuTimes(4.0, 9.0), times) == 6.0
    assert busy_seconds(None, times) is None
    with pytest.raises(ValueError):
        parse_cpu_line("cpu0 1 2 3 4", ticks_per_second=100)


def test_all_cores_bound() -> None:
    assert all_cores_bound_eps(1000, 4.0, 2) == 500.0
    assert all_cores_bound_eps(1000, None, 2) is None


def test_per_event_half_rates() -> None:
    # Four events done at 1, 2, 4 and 6 s: two in the first 2 s, two in the next 4 s.
    assert _half_rates([1.0, 2.0, 4.0, 6.0]) == (1.0, 0.5)
    assert _half_rates([0.5]) is None


def test_backlog_mode_reports_without_baselines() -> None:
    results = _results(with_baselines=False)
    assert results["summary"]["ceiling_eps"] is None
    assert results["summary"]["pipeline_vs_connector"] is None
    assert "ceiling" not in markdown(results)


@pytest.mark.services
def test_baselines_write_their_nodes(empty_graph, fresh_topic, settings) -> None:
    from confluent_kafka import Producer

    from memgraph_pipelines.kafka.client import KafkaConnection

    docs = (PROMPT_V2, TOKENS_CAMEL, INVOCATION_V1)
    values = [
        *(json.dumps(doc).encode() for doc in docs),
        b"{not json",
        json.dumps(METRIC).encode(),
    ]
    db = settings.neo4j_database
    per_event = per_event_load(empty_graph, db, values, max_events=10, max_seconds=30)
    assert (per_event.events, per_event.skipped, per_event.transactions) == (3, 2, 3)
    assert per_event.half_rates is not None and min(per_event.half_rates) > 0

    topic = fresh_topic("bench", partitions=2)
    producer = Producer({"bootstrap.servers": settings.kafka_brokers})
    for i, value in enumerate(values):
        producer.produce(topic, value, partition=i % 2)
    assert producer.flush(30) == 0
    connection = KafkaConnection(settings.kafka_brokers)
    connector = connector_load(connection, empty_graph, db, topic)
    # partition 0 holds the prompt, the invocation and the metric; partition 1 nothing usable
    assert (connector.events, connector.skipped, connector.transactions) == (3, 2, 1)

    with empty_graph.session(database=db) as session:
        prompt = session.run("MATCH (p:Prompt {id: 'p-1'}) RETURN p").single(strict=True)["p"]
        count = session.run("MATCH (i:Invocation) RETURN count(i) AS n").single(strict=True)["n"]
        rels = {r["t"] for r in session.run("MATCH ()-[r]->() RETURN DISTINCT type(r) AS t")}
    assert prompt["text"] == "hi"
    assert count == 1  # the v1 invocation, which the metric names too
    assert rels == {"USES_MODEL", "PART_OF", "HAS_METRIC"}

    # The untimed warm-up runs both ways over the same records (fewer than its caps here).
    warmed = warm_up(connection, empty_graph, db, topic, values)
    assert warmed == {"connector_events": 3, "per_event_events": 3}


@pytest.mark.services
def test_sensor_ticks_over_a_history_plan_the_whole_backlog(fresh_topic, settings) -> None:
    import dataclasses

    from confluent_kafka import Producer

    from benchmarks.sensor_ticks import history_keys, time_sensor_ticks
    from memgraph_pipelines.kafka.ranges import parse_keys

    topic = fresh_topic("bench-sensor", partitions=2)
    producer = Producer({"bootstrap.servers": settings.kafka_brokers, "linger.ms": 20})
    for i in range(100_000):
        producer.produce(topic, b"{}", partition=i % 2)
        producer.poll(0)
    assert producer.flush(60) == 0
    history = history_keys(topic, 300, partitions=2)
    assert all(spec.backfill for spec in parse_keys(history, topic)) and len(history) == 300

    ticks = time_sensor_ticks(
        dataclasses.replace(settings, observatory_topic=topic), 2, history=300
    )
    assert ticks["history"] == 300 and len(ticks["ticks_s"]) == 2
    # The history names offsets the backlog holds, but as backfills: every record is still
    # planned (two full batches of 50,000), over the first tick and the next ones.
    assert ticks["planned_batches"] == 2
