"""The benchmark's rounds: which record stands for a measurement, the per-round ratios and
their report, and the rewind that lets the next round's pipeline read the topic again."""

from __future__ import annotations

import uuid

import pytest

from benchmarks.harness import summarize
from benchmarks.pipeline_run import STAGES
from benchmarks.report import markdown
from benchmarks.rounds import combine, median_record


def _pipeline(eps: float, peak: float) -> dict:
    return {
        "seconds": 1000 / eps,
        "events_per_s": eps,
        "peak_rss_mb": peak,
        "rss_after_imports_mb": 200.0,
        "totals": {"read": 1000},
        "stages": dict.fromkeys(STAGES, 0.1),
    }


def _round(pipeline: float, ceiling: float, per_event: float, peak: float) -> dict:
    return {
        "pipeline": _pipeline(pipeline, peak),
        "ceiling": {
            "events_per_s": ceiling,
            "seconds": 1000 / ceiling,
            "chunk_size": 2000,
            "best_chunk_size": 2000,
            "sweep": [{"chunk_size": 2000, "events_per_s": ceiling, "transactions": 1}],
        },
        "per_event": {
            "events_per_s": per_event,
            "seconds": 1.0,
            "events": 10,
            "extrapolated_seconds": 1000 / per_event,
        },
        "graph_after_pipeline": {"nodes": 1},
    }


ROUNDS = [
    _round(pipeline=600.0, ceiling=1000.0, per_event=50.0, peak=410.0),
    _round(pipeline=400.0, ceiling=900.0, per_event=40.0, peak=450.0),
    _round(pipeline=500.0, ceiling=1200.0, per_event=30.0, peak=430.0),
]


def test_median_record_is_a_real_round() -> None:
    records = [{"events_per_s": v, "tag": v} for v in (3.0, 1.0, 2.0)]
    assert median_record(records)["tag"] == 2.0
    # Of an even count, the lower middle one: never better than half of the rounds.
    assert median_record([*records, {"events_per_s": 9.0, "tag": 9.0}])["tag"] == 2.0
    with pytest.raises(ValueError):
        median_record([])


def test_combine_takes_each_measurements_median_round() -> None:
    combined = combine(ROUNDS)
    # Each measurement's median is taken on its own: the pipeline's is round 3's, the
    # ceiling's round 1's, the per-event one round 2's.
    assert combined["pipeline"]["events_per_s"] == 500.0
    assert combined["ceiling"]["events_per_s"] == 1000.0
    assert combined["per_event"]["events_per_s"] == 40.0
    assert combined["pipeline"]["rounds_events_per_s"] == [600.0, 400.0, 500.0]
    assert combined["pipeline"]["peak_rss_mb_max"] == 450.0
    assert "connector" not in combined and "graph_after_pipeline" not in combined
    first = combined["rounds"][0]
    assert first["round"] == 1
    assert first["pipeline_vs"] == {"ceiling": 0.6, "per_event": 12.0}


def test_summary_and_report_of_rounds() -> None:
    results = {
        "started_at": "2026-12-01T08:00:00+00:00",
        "events": 1000,
        "sensor": {"median_s": 0.05, "max_s": 0.07},
        **combine(ROUNDS),
    }
    summary = summarize(results)
    assert summary["rounds"] == 3
    assert summary["pipeline_eps"] == 500.0 and summary["pipeline_vs_ceiling"] == 0.5
    assert summary["peak_rss_mb"] == 450.0  # the largest round's, not the median round's
    text = markdown(results | {"summary": summary})
    assert "median of 3 rounds" in text
    assert "| round | pipeline events/s | ceiling events/s | per-event events/s |" in text
    assert "| 2 | 400 | 900 | 40 | 0.44 | 10.00 |" in text


def test_one_round_has_no_round_table() -> None:
    results = {
        "started_at": "2026-12-01T08:00:00+00:00",
        "events": 1000,
        "sensor": {"median_s": 0.05, "max_s": 0.07},
        **combine(ROUNDS[:1]),
    }
    results["summary"] = summarize(results)
    assert results["summary"]["rounds"] == 1
    assert "rounds" not in markdown(results).split("| pipeline stage |")[0].lower()


@pytest.mark.services
def test_rewind_group_resets_only_its_topic(fresh_topic, settings) -> None:
    from benchmarks.workload import rewind_group
    from memgraph_pipelines.kafka.client import KafkaConnection, commit_offsets, committed_offsets

    connection = KafkaConnection(settings.kafka_brokers)
    group = f"bench-rewind-{uuid.uuid4().hex[:10]}"
    rewound, other = fresh_topic("rewound", partitions=2), fresh_topic("other", partitions=1)
    producer = connection.shared_producer()
    for partition in (0, 1):
        for _ in range(3):
            producer.produce(rewound, b"{}", partition=partition)
    producer.produce(other, b"{}", partition=0)
    assert producer.flush(30) == 0
    commit_offsets(connection, group, rewound, {0: 3, 1: 2})
    commit_offsets(connection, group, other, {0: 1})

    assert rewind_group(connection, group, rewound) == {0: 0, 1: 0}
    assert committed_offsets(connection, group, rewound) == {0: 0, 1: 0}
    assert committed_offsets(connection, group, other) == {0: 1}
