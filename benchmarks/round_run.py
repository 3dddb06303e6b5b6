"""One round of the benchmark's timed measurements (benchmarks.rounds says why there are
several): the pipeline on an empty graph, then, unless skipped, the ceiling and the two
baselines, each on an empty graph of its own."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.pipeline_run import pipeline_defaults

if TYPE_CHECKING:
    from benchmarks.harness import BenchOptions, Log


def _ceiling(
    options: BenchOptions, settings: Any, driver: Any, prepared: list[Any], *, sweep: bool, log: Log
) -> dict[str, Any]:
    """The ceiling at the pipeline's chunk size; with ``sweep``, at every chunk size too."""
    from benchmarks.ceiling import load_prepared
    from benchmarks.workload import flush_to_disk, wipe_graph
    from memgraph_pipelines.graph.loader import DEFAULT_WRITERS

    _, pipeline_chunk, _, _ = pipeline_defaults()
    chunks = sorted({*options.chunk_sizes, pipeline_chunk}) if sweep else [pipeline_chunk]
    measured = []
    for chunk in chunks:
        wipe_graph(driver, settings.neo4j_database)
        flush_to_disk()
        result = load_prepared(
            driver,
            settings.neo4j_database,
            settings.observatory_topic,
            prepared,
            events=options.events,
            chunk_size=chunk,
        )
        log(f"ceiling: chunk {chunk}: {result.events_per_second:,.0f} events/s")
        measured.append(dataclasses.asdict(result) | {"events_per_s": result.events_per_second})
    ceiling = next(r for r in measured if r["chunk_size"] == pipeline_chunk)
    ceiling = ceiling | {"writers": DEFAULT_WRITERS}
    if sweep:
        best = max(measured, key=lambda r: r["events_per_s"])
        ceiling |= {"best_chunk_size": best["chunk_size"], "sweep": measured}
    return ceiling


def _baselines(
    options: BenchOptions,
    settings: Any,
    connection: Any,
    driver: Any,
    prepared: list[Any],
    *,
    first_round: bool,
    log: Log,
) -> dict[str, Any]:
    """One round's ceiling, per-event and connector-style measurements (the first round also
    sweeps the chunk sizes and warms the baselines' templates up)."""
    from benchmarks.baselines import connector_load, per_event_load, warm_up
    from benchmarks.workload import flush_to_disk, sample_values, wipe_graph

    db, topic, n = settings.neo4j_database, settings.observatory_topic, options.events
    measured: dict[str, Any] = {
        "ceiling": _ceiling(options, settings, driver, prepared, sweep=first_round, log=log)
    }
    wipe_graph(driver, db)
    # Spare records: the unusable ones are skipped, not counted.
    spare = options.per_event_sample // 10 + 10
    sample = sample_values(connection, topic, options.per_event_sample + spare)
    if first_round:
        warmed = warm_up(connection, driver, db, topic, sample)
        log(
            f"baselines' warm-up: {warmed['connector_events']:,} events connector-style and "
            f"{warmed['per_event_events']:,} per event, untimed"
        )
        measured["baselines_warm_up"] = warmed
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

    def described(m: Any) -> dict[str, Any]:
        eps = m.events_per_second
        extrapolated = n / eps if eps else None
        return dataclasses.asdict(m) | {"events_per_s": eps, "extrapolated_seconds": extrapolated}

    measured["per_event"] = described(per_event)
    measured["connector"] = described(connector) | {"batch_size": 1000}
    return measured


def _round_settings(settings: Any, workdir: Path, number: int) -> Any:
    """A round's own Dagster instance, staging, vault and keys: each pipeline run starts afresh."""
    home = workdir / f"round-{number}"
    return dataclasses.replace(
        settings,
        dagster_home=str(home / "dagster_home"),
        staging_uri=str(home / "staging"),
        vault_local_uri=str(home / "vault"),
        local_kek_file=str(home / "keys" / "kek.key"),
    )


def run_round(
    number: int,
    options: BenchOptions,
    settings: Any,
    connection: Any,
    driver: Any,
    prepared: list[Any],
    workdir: Path,
    log: Log,
) -> dict[str, Any]:
    """Round ``number`` (from 1): the pipeline on an empty graph, then the ceiling and the
    baselines unless skipped. The graph is left empty."""
    from benchmarks.pipeline_run import run_pipeline
    from benchmarks.workload import flush_to_disk, rewind_group, wipe_graph
    from memgraph_pipelines.graph.summary import graph_summary
    from memgraph_pipelines.settings import CONSUMER_GROUP

    max_records, _, _, _ = pipeline_defaults()
    if number > 1:  # the round before committed the whole topic
        rewind_group(connection, CONSUMER_GROUP, settings.observatory_topic)
    wipe_graph(driver, settings.neo4j_database)
    flush_to_disk()
    log(f"round {number}/{options.rounds}: pipeline: catch-up in a child process")
    pipeline = run_pipeline(
        _round_settings(settings, workdir, number),
        max_batch_records=max_records,
        log_path=workdir / f"pipeline-{number}.log",
    )
    measured: dict[str, Any] = {
        "pipeline": dataclasses.asdict(pipeline)
        | {"events_per_s": pipeline.events_per_second(options.events)}
    }
    log(f"pipeline: {measured['pipeline']['events_per_s']:,.0f} events/s")
    measured["graph_after_pipeline"] = graph_summary(driver, settings.neo4j_database)
    if not options.skip_baselines:
        measured |= _baselines(
            options, settings, connection, driver, prepared, first_round=number == 1, log=log
        )
    wipe_graph(driver, settings.neo4j_database)
    return measured
