"""One benchmark run on the services the environment names (SPEC §6 variables): a fresh
topic of N events, an empty graph, then every measurement in turn. Returns plain results
(JSON-ready); benchmarks.report writes them out."""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.machine_cpu import pipeline_cpu_bound_eps
from benchmarks.workload import EventShares

Log = Callable[[str], None]

#: Events the warm-up loads before any measurement (benchmarks.ceiling.warm_up says why).
WARM_UP_EVENTS = 200_000


def _pipeline_defaults() -> tuple[int, int, int, int]:
    """(batch records, load chunk size, max wait ms, runs per tick): what the pipeline uses."""
    from memgraph_pipelines.resources.ingestion import IngestionResource
    from memgraph_pipelines.resources.neo4j import Neo4jResource

    ingestion = IngestionResource()
    chunk = Neo4jResource.model_fields["load_chunk_size"].default
    return (
        ingestion.max_batch_records,
        int(chunk),
        ingestion.max_wait_seconds * 1000,
        ingestion.max_runs_per_tick,
    )


@dataclass(frozen=True)
class BenchOptions:
    events: int
    seed: int = 0
    shares: EventShares = field(default_factory=EventShares)
    #: Loader chunk sizes the ceiling is measured with; the pipeline's own is always among them.
    chunk_sizes: tuple[int, ...] = (2000, 5000, 10000)
    per_event_sample: int = 10_000
    per_event_max_seconds: float = 30.0
    #: Records the connector-style baseline consumes; None: the whole topic.
    connector_events: int | None = None
    skip_baselines: bool = False
    sensor_ticks: int = 5
    keep_workdir: bool = False


def time_sensor_ticks(connection: Any, topic: str, ticks: int) -> dict[str, Any]:
    """The sensor's logic (watermarks only) against the untouched backlog, ``ticks`` times."""
    from memgraph_pipelines.pipeline.planning import plan_next_batches
    from memgraph_pipelines.settings import CONSUMER_GROUP

    max_records, _, max_wait_ms, max_batches = _pipeline_defaults()
    seconds, plan = [], None
    for _ in range(max(1, ticks)):
        started = time.perf_counter()
        plan = plan_next_batches(
            connection,
            topic,
            CONSUMER_GROUP,
            registered_keys=[],
            cursor={},
            max_records=max_records,
            max_wait_ms=max_wait_ms,
            max_batches=max_batches,
            now_ms=int(time.time() * 1000),
        )
        seconds.append(time.perf_counter() - started)
    assert plan is not None
    return {
        "ticks_s": [round(s, 4) for s in seconds],
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
        "planned_batches": len(plan.batches),
        "backlog_after_plan": plan.backlog,
    }


def _environment(driver: Any) -> dict[str, Any]:
    info = driver.get_server_info()
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "neo4j_agent": info.agent,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _prepare(
    options: BenchOptions, settings: Any, connection: Any, workdir: Path, log: Log
) -> list[Any]:
    """The ceiling's batches (all of them; with --skip-baselines, the warm-up's only)."""
    from benchmarks.ceiling import prepare_batches
    from benchmarks.workload import topic_batches

    max_records, _, _, _ = _pipeline_defaults()
    specs = topic_batches(connection, settings.observatory_topic, max_records)
    if options.skip_baselines:
        specs = specs[: max(1, -(-WARM_UP_EVENTS // max_records))]
    log(f"decoding and protecting {len(specs)} batches for the warm-up and ceiling (not timed)")
    vault = str(workdir / "ceiling-vault")
    return prepare_batches(connection, specs, dataclasses.replace(settings, vault_local_uri=vault))


def _baselines(
    options: BenchOptions,
    settings: Any,
    connection: Any,
    driver: Any,
    prepared: list[Any],
    log: Log,
) -> dict[str, Any]:
    from benchmarks.baselines import connector_load, per_event_load, warm_up
    from benchmarks.ceiling import load_prepared
    from benchmarks.workload import flush_to_disk, sample_values, wipe_graph
    from memgraph_pipelines.graph.loader import DEFAULT_WRITERS

    db, topic, n = settings.neo4j_database, settings.observatory_topic, options.events
    _, pipeline_chunk, _, _ = _pipeline_defaults()
    sweep = []
    for chunk in sorted({*options.chunk_sizes, pipeline_chunk}):
        wipe_graph(driver, db)
        flush_to_disk()
        result = load_prepared(driver, db, topic, prepared, events=n, chunk_size=chunk)
        log(f"ceiling: chunk {chunk}: {result.events_per_second:,.0f} events/s")
        sweep.append(dataclasses.asdict(result) | {"events_per_s": result.events_per_second})
    best = max(sweep, key=lambda r: r["events_per_s"])
    at_default = next(r for r in sweep if r["chunk_size"] == pipeline_chunk)

    wipe_graph(driver, db)
    # Spare records: the unusable ones are skipped, not counted.
    spare = options.per_event_sample // 10 + 10
    sample = sample_values(connection, topic, options.per_event_sample + spare)
    warmed = warm_up(connection, driver, db, topic, sample)
    log(
        f"baselines' warm-up: {warmed['connector_events']:,} events connector-style and "
        f"{warmed['per_event_events']:,} per event, untimed"
    )
    wipe_graph(driver, db)
    flush_to_disk()
    per_event = per_event_load(
        driver,
        db,
        sample,
        max_events=options.per_event_sample,
        max_seconds=options.per_event_max_seconds,
    )
    log(f"per-event: {per_event.events} events, {per_event.events_per_second:,.0f} events/s")

    wipe_graph(driver, db)
    flush_to_disk()
    connector = connector_load(connection, driver, db, topic, max_events=options.connector_events)
    log(f"connector-style: {connector.events} events, {connector.events_per_second:,.0f} events/s")
    # Leave the database as the run found it: empty.
    wipe_graph(driver, db)

    def described(m: Any) -> dict[str, Any]:
        eps = m.events_per_second
        extrapolated = n / eps if eps else None
        return dataclasses.asdict(m) | {"events_per_s": eps, "extrapolated_seconds": extrapolated}

    return {
        "baselines_warm_up": warmed,
        "ceiling": {
            "chunk_size": pipeline_chunk,
            "writers": DEFAULT_WRITERS,
            "events_per_s": at_default["events_per_s"],
            "seconds": at_default["seconds"],
            "best_chunk_size": best["chunk_size"],
            "sweep": sweep,
        },
        "per_event": described(per_event),
        "connector": described(connector) | {"batch_size": 1000},
    }


def run_benchmark(options: BenchOptions, log: Log = print) -> dict[str, Any]:
    import neo4j

    from benchmarks.ceiling import warm_up
    from benchmarks.pipeline_run import run_pipeline
    from benchmarks.workload import (
        create_topics,
        delete_topics,
        flush_to_disk,
        produce_workload,
        unique_topic_name,
        wipe_graph,
    )
    from memgraph_pipelines.graph.summary import graph_summary
    from memgraph_pipelines.settings import Settings

    env = Settings.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="memgraph-bench-"))
    topic = unique_topic_name()
    settings = dataclasses.replace(
        env,
        observatory_topic=topic,
        dagster_home=str(workdir / "dagster_home"),
        staging_uri=str(workdir / "staging"),
        vault_local_uri=str(workdir / "vault"),
        local_kek_file=str(workdir / "keys" / "kek.key"),
    )
    connection = settings.kafka_connection()
    driver = neo4j.GraphDatabase.driver(
        settings.neo4j_uri, auth=(settings.neo4j_username, settings.neo4j_password or "")
    )
    max_records, _, _, _ = _pipeline_defaults()
    created: list[str] = []
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": options.events,
        "options": dataclasses.asdict(options),
    }
    try:
        results["environment"] = _environment(driver)
        created = create_topics(connection, topic)
        started = time.perf_counter()
        log(f"producing {options.events:,} events to {topic}")
        workload = produce_workload(
            connection, topic, options.events, seed=options.seed, shares=options.shares
        )
        results["workload"] = workload | {
            "topic": topic,
            "produce_seconds": time.perf_counter() - started,
        }
        results["sensor"] = time_sensor_ticks(connection, topic, options.sensor_ticks)
        log(f"sensor tick: {results['sensor']['median_s']:.3f}s (median)")

        prepared = _prepare(options, settings, connection, workdir, log)
        wipe_graph(driver, settings.neo4j_database)
        warm = warm_up(driver, settings.neo4j_database, topic, prepared, events=WARM_UP_EVENTS)
        results["warm_up_events"] = sum(b.events for b in warm)
        log(f"warm-up: {results['warm_up_events']:,} events loaded once, untimed")
        wipe_graph(driver, settings.neo4j_database)
        flush_to_disk()
        log("pipeline: catch-up in a child process")
        pipeline = run_pipeline(
            settings, max_batch_records=max_records, log_path=workdir / "pipeline.log"
        )
        results["pipeline"] = dataclasses.asdict(pipeline) | {
            "events_per_s": pipeline.events_per_second(options.events)
        }
        log(f"pipeline: {results['pipeline']['events_per_s']:,.0f} events/s")
        results["graph_after_pipeline"] = graph_summary(driver, settings.neo4j_database)
        if not options.skip_baselines:
            results.update(_baselines(options, settings, connection, driver, prepared, log))
        del prepared
    finally:
        results["undeleted_topics"] = delete_topics(connection, created)
        driver.close()
        if options.keep_workdir:
            results["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["summary"] = summarize(results)
    return results


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers (the command's last output line)."""

    def eps(name: str) -> float | None:
        part = results.get(name)
        return round(part["events_per_s"], 1) if part else None

    pipeline = eps("pipeline")
    summary = {
        "events": results["events"],
        "pipeline_eps": pipeline,
        "ceiling_eps": eps("ceiling"),
        "per_event_eps": eps("per_event"),
        "connector_eps": eps("connector"),
        "pipeline_vs_ceiling": _ratio(pipeline, eps("ceiling")),
        "pipeline_vs_per_event": _ratio(pipeline, eps("per_event")),
        "pipeline_vs_connector": _ratio(pipeline, eps("connector")),
        "peak_rss_mb": round(results["pipeline"]["peak_rss_mb"], 1),
        "sensor_tick_s": round(results["sensor"]["median_s"], 4),
        "sensor_tick_max_s": round(results["sensor"]["max_s"], 4),
        "pipeline_cpu_bound_eps": pipeline_cpu_bound_eps(results),
    }
    if "ceiling" in results:
        summary["best_chunk_size"] = results["ceiling"]["best_chunk_size"]
    return summary
