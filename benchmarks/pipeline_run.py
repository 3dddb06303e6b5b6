"""The pipeline measurement: `catch_up` in a child process (the process running the batches),
its wall time and peak RSS, and the stage breakdown read back from its Dagster instance."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memgraph_pipelines.memory import batch_process_environment
from memgraph_pipelines.settings import Settings

BATCH_STEP = "observatory_batch"
GRAPH_STEP = "observatory_graph"
#: The stages of one batch, in pipeline order; `orchestration` is what Dagster adds around them
#: and `planning` what catch-up spends between runs (watermarks, partition registration).
STAGES = (
    "read",
    "decode",
    "validate",
    "dead_letter",
    "encrypt",
    "stage",
    "staging_read",
    "load",
    "commit",
    "orchestration",
    "planning",
)


def pipeline_defaults() -> tuple[int, int, int, int]:
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


@dataclass
class PipelineMeasurement:
    seconds: float
    totals: dict[str, Any]
    batch_seconds: list[float]
    #: The larger of the two processes that run batches: this one (staging) and its loader.
    peak_rss_mb: float
    stager_peak_rss_mb: float
    loader_peak_rss_mb: float | None
    rss_after_imports_mb: float
    #: CPU-seconds the whole machine (Neo4j, Kafka and both batch processes included) was busy
    #: during the run, and its core count: what the run's work costs, whatever the overlap.
    machine_busy_s: float | None = None
    cpu_count: int | None = None
    stages: dict[str, float] = field(default_factory=dict)

    def events_per_second(self, n: int) -> float:
        return n / self.seconds if self.seconds > 0 else 0.0


def _run_in_child(settings: Settings, max_batch_records: int, log_path: str, sink: Any) -> None:
    # Dagster's run logs go to a file, not the benchmark's output.
    with open(log_path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        # The imports catch-up does lazily (GX's at the first batch's checks), done before the
        # clock starts: events/s excludes imports.
        import great_expectations  # noqa: F401

        import memgraph_pipelines.definitions  # noqa: F401
        from benchmarks.machine_cpu import busy_seconds, cpu_times
        from memgraph_pipelines.inprocess import catch_up, ensure_dagster_home
        from memgraph_pipelines.memory import peak_rss_mb

        rss_after_imports = peak_rss_mb()
        # A fresh DAGSTER_HOME's storages are created on first use (0.6 s here; 0.03 s to open
        # them again): set-up, once per home, like the imports.
        instance = ensure_dagster_home(settings)
        batch_seconds: list[float] = []
        cpu_before = cpu_times()
        started = time.perf_counter()
        totals = catch_up(
            settings,
            max_batch_records=max_batch_records,
            on_batch=lambda outcome: batch_seconds.append(outcome.seconds),
            instance=instance,
        )
        elapsed = time.perf_counter() - started
        machine_busy = busy_seconds(cpu_before, cpu_times())
        sink.send(
            {
                "seconds": elapsed,
                "totals": totals.as_json(),
                "batch_seconds": batch_seconds,
                "peak_rss_mb": max(peak_rss_mb(), totals.loader_peak_rss_mb or 0.0),
                "stager_peak_rss_mb": peak_rss_mb(),
                "loader_peak_rss_mb": totals.loader_peak_rss_mb,
                "rss_after_imports_mb": rss_after_imports,
                "machine_busy_s": machine_busy,
                "cpu_count": os.cpu_count(),
            }
        )
    except BaseException as exc:  # the parent reports it; the child only says what failed
        sink.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        sink.close()


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_pipeline(
    settings: Settings, *, max_batch_records: int, log_path: Path
) -> PipelineMeasurement:
    """catch_up(settings) in a fresh (spawned) process: its RSS is the batches' alone. Its
    output goes to ``log_path``."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_run_in_child,
        args=(settings, max_batch_records, str(log_path), sender),
        name="bench-pipeline",
    )
    with batch_process_environment():
        child.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        result = {"error": "the pipeline process ended without a result"}
    child.join()
    if "error" in result:
        raise RuntimeError(
            f"pipeline run failed (exit code {child.exitcode}): {result['error']}\n"
            f"last lines of {log_path}:\n{_log_tail(log_path)}"
        )
    measurement = PipelineMeasurement(**result)
    measurement.stages = stage_breakdown(settings.dagster_home, measurement)
    return measurement


def _step_times(entries: list[Any]) -> dict[tuple[str, str], float]:
    """(step, event type) -> timestamp of its first occurrence (last for materializations)."""
    times: dict[tuple[str, str], float] = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        key = (entry.step_key, event.event_type_value)
        if key not in times or event.event_type_value == "ASSET_MATERIALIZATION":
            times[key] = entry.timestamp
    return times


def _materialization_metadata(entries: list[Any], asset_name: str) -> dict[str, Any]:
    for entry in reversed(entries):
        materialization = entry.asset_materialization
        if materialization is not None and materialization.asset_key.path[-1] == asset_name:
            return {k: v.value for k, v in materialization.metadata.items()}
    return {}


def _run_stages(entries: list[Any]) -> dict[str, float]:
    staged = _materialization_metadata(entries, BATCH_STEP)
    graph = _materialization_metadata(entries, GRAPH_STEP)
    at = _step_times(entries)
    stages = {name: float(v) for name, v in (staged.get("stage_seconds") or {}).items()}

    def span(step: str, first: str, last: str) -> float:
        begin, end = at.get((step, first)), at.get((step, last))
        return max(0.0, end - begin) if begin is not None and end is not None else 0.0

    load = float(graph.get("load_seconds", 0.0))
    stages["stage"] = span(BATCH_STEP, "STEP_OUTPUT", "HANDLED_OUTPUT")
    stages["staging_read"] = span(GRAPH_STEP, "STEP_START", "LOADED_INPUT")
    stages["load"] = load
    # The graph step after its input: accounting, migration check, load, offsets commit.
    stages["commit"] = max(0.0, span(GRAPH_STEP, "LOADED_INPUT", "ASSET_MATERIALIZATION") - load)
    return stages


def _covered_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``intervals``."""
    covered, reach = 0.0, float("-inf")
    for begin, end in sorted(intervals):
        if end > reach:
            covered += end - max(begin, reach)
            reach = end
    return covered


def stage_breakdown(dagster_home: str, measurement: PipelineMeasurement) -> dict[str, float]:
    """Busy seconds per stage summed over all runs. A batch stages while the one before it
    loads, so the rows add up to more than the wall time; ``planning`` is the wall time when
    no run was going (planning, and the loader process starting)."""
    from dagster import DagsterInstance

    instance = DagsterInstance.from_config(dagster_home)
    totals = dict.fromkeys(STAGES, 0.0)
    intervals: list[tuple[float, float]] = []
    try:
        for record in instance.get_run_records():
            if record.start_time is not None and record.end_time is not None:
                intervals.append((record.start_time, record.end_time))
            entries = list(instance.all_logs(record.dagster_run.run_id))
            for name, seconds in _run_stages(entries).items():
                totals[name] = totals.get(name, 0.0) + seconds
    finally:
        instance.dispose()
    measured = sum(v for k, v in totals.items() if k not in ("orchestration", "planning"))
    totals["orchestration"] = max(0.0, sum(end - begin for begin, end in intervals) - measured)
    totals["planning"] = max(0.0, measurement.seconds - _covered_seconds(intervals))
    return totals
