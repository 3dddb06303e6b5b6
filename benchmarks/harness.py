"""One benchmark run on the services the environment names (SPEC §6 variables): a fresh
topic of N events, an empty graph, then every measurement in turn. Returns plain results
(JSON-ready); benchmarks.report writes them out."""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.machine_cpu import pipeline_cpu_bound_eps
from benchmarks.pipeline_run import pipeline_defaults
from benchmarks.round_run import run_round
from benchmarks.rounds import combine, ratio
from benchmarks.sensor_ticks import DEFAULT_HISTORY, time_sensor_ticks
from benchmarks.workload import EventShares

Log = Callable[[str], None]

#: Events the warm-up loads before any measurement (benchmarks.ceiling.warm_up says why).
WARM_UP_EVENTS = 200_000


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
    #: Batches registered before the sensor ticks (benchmarks.sensor_ticks).
    sensor_history: int = DEFAULT_HISTORY
    keep_workdir: bool = False
    #: Times every timed measurement runs, round after round (benchmarks.rounds says why).
    rounds: int = 3


def _environment(driver: Any) -> dict[str, Any]:
    info = driver.get_server_info()
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "neo4j_agent": info.agent,
    }


def _prepare(
    options: BenchOptions, settings: Any, connection: Any, workdir: Path, log: Log
) -> list[Any]:
    """The ceiling's batches (all of them; with --skip-baselines, the warm-up's only)."""
    from benchmarks.ceiling import prepare_batches
    from benchmarks.workload import topic_batches

    max_records, _, _, _ = pipeline_defaults()
    specs = topic_batches(connection, settings.observatory_topic, max_records)
    if options.skip_baselines:
        specs = specs[: max(1, -(-WARM_UP_EVENTS // max_records))]
    log(f"decoding and protecting {len(specs)} batches for the warm-up and ceiling (not timed)")
    vault = str(workdir / "ceiling-vault")
    return prepare_batches(connection, specs, dataclasses.replace(settings, vault_local_uri=vault))


def run_benchmark(options: BenchOptions, log: Log = print) -> dict[str, Any]:
    import neo4j

    from benchmarks.ceiling import warm_up
    from benchmarks.workload import (
        create_topics,
        delete_topics,
        produce_workload,
        unique_topic_name,
        wipe_graph,
    )
    from memgraph_pipelines.settings import Settings

    env = Settings.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="memgraph-bench-"))
    topic = unique_topic_name()
    settings = dataclasses.replace(
        env,
        observatory_topic=topic,
        vault_local_uri=str(workdir / "vault"),
        local_kek_file=str(workdir / "keys" / "kek.key"),
    )
    connection = settings.kafka_connection()
    driver = neo4j.GraphDatabase.driver(
        settings.neo4j_uri, auth=(settings.neo4j_username, settings.neo4j_password or "")
    )
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
        results["sensor"] = time_sensor_ticks(
            settings, options.sensor_ticks, history=options.sensor_history
        )
        log(
            f"sensor tick: {results['sensor']['median_s']:.3f}s (median; first tick "
            f"{results['sensor']['first_tick_s']:.3f}s, {options.sensor_history:,} registered)"
        )

        prepared = _prepare(options, settings, connection, workdir, log)
        wipe_graph(driver, settings.neo4j_database)
        warm = warm_up(driver, settings.neo4j_database, topic, prepared, events=WARM_UP_EVENTS)
        results["warm_up_events"] = sum(b.events for b in warm)
        log(f"warm-up: {results['warm_up_events']:,} events loaded once, untimed")
        rounds = [
            run_round(number, options, settings, connection, driver, prepared, workdir, log)
            for number in range(1, options.rounds + 1)
        ]
        del prepared
        results.update(combine(rounds))
        first = rounds[0]
        results["graph_after_pipeline"] = first["graph_after_pipeline"]
        if "ceiling" in first:
            results["ceiling"] |= {k: first["ceiling"][k] for k in ("best_chunk_size", "sweep")}
            results["baselines_warm_up"] = first["baselines_warm_up"]
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
    peak = results["pipeline"]["peak_rss_mb"]
    summary = {
        "events": results["events"],
        "pipeline_eps": pipeline,
        "ceiling_eps": eps("ceiling"),
        "per_event_eps": eps("per_event"),
        "connector_eps": eps("connector"),
        "pipeline_vs_ceiling": ratio(pipeline, eps("ceiling")),
        "pipeline_vs_per_event": ratio(pipeline, eps("per_event")),
        "pipeline_vs_connector": ratio(pipeline, eps("connector")),
        "peak_rss_mb": round(results["pipeline"].get("peak_rss_mb_max", peak), 1),
        "sensor_tick_s": round(results["sensor"]["median_s"], 4),
        "sensor_tick_max_s": round(results["sensor"]["max_s"], 4),
        "sensor_first_tick_s": results["sensor"].get("first_tick_s"),
        "pipeline_cpu_bound_eps": pipeline_cpu_bound_eps(results),
        "rounds": len(results.get("rounds", [])) or 1,
    }
    if "ceiling" in results:
        summary["best_chunk_size"] = results["ceiling"].get("best_chunk_size")
    return summary
