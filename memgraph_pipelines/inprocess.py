"""Runs batches against the Dagster instance of ``DAGSTER_HOME``: what `catch-up` and `backfill`
do, with the same assets, checks and resources the UI runs. Runs execute in this process; when
there are several batches, their graph runs execute in one loader process beside it
(``memgraph_pipelines.overlap``)."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance, materialize

from memgraph_pipelines.assets.load_history import registered_since
from memgraph_pipelines.assets.observatory import (
    observatory_batch,
    observatory_batch_valid,
    observatory_batches,
    observatory_graph,
)
from memgraph_pipelines.kafka.ranges import BatchSpec
from memgraph_pipelines.memory import prepare_batch_process, release_unused_memory
from memgraph_pipelines.pipeline.planning import plan_next_batches, plan_time_window
from memgraph_pipelines.settings import CONSUMER_GROUP, Settings

#: Batches planned at a time by `catch-up` (then run, then the next plan).
CATCH_UP_PLAN_BATCHES = 16

INSTANCE_CONFIG = """\
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""


def ensure_dagster_home(settings: Settings) -> DagsterInstance:
    """The instance at DAGSTER_HOME, created with the project's defaults on first use."""
    home = Path(settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


@dataclass
class BatchOutcome:
    key: str
    success: bool
    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: Blocking checks that failed (the batch is held: nothing of it was loaded).
    failed_checks: list[str] = field(default_factory=list)


@dataclass
class RunTotals:
    batches: int = 0
    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    #: Peak RSS of the loader process(es), when batches were loaded beside their staging.
    loader_peak_rss_mb: float | None = None

    def add(self, outcome: BatchOutcome) -> None:
        self.batches += 1
        self.read += outcome.read
        self.loaded += outcome.loaded
        self.duplicates += outcome.duplicates
        self.dead_lettered.update(outcome.dead_lettered)
        if not outcome.success:
            self.failed.append(outcome.key)

    def as_json(self) -> dict:
        return {
            "batches": self.batches,
            "read": self.read,
            "loaded": self.loaded,
            "duplicates": self.duplicates,
            "dead_lettered": dict(sorted(self.dead_lettered.items())),
            "failed_batches": self.failed,
        }


def _metadata(result, asset_name: str) -> dict:
    events = result.asset_materializations_for_node(asset_name)
    return {k: v.value for k, v in events[-1].metadata.items()} if events else {}


def _run(
    key: str,
    assets: list,
    *,
    instance: DagsterInstance,
    resources: dict,
    selection: list | None = None,
    must_load: bool,
) -> BatchOutcome:
    """One run of ``assets`` (or of ``selection`` among them) for the batch ``key``. It
    succeeds if every step did, no blocking check failed and, when ``must_load``, the graph
    asset materialized."""
    started = time.perf_counter()
    result = materialize(
        assets,
        selection=selection,
        instance=instance,
        resources=resources,
        partition_key=key,
        raise_on_error=False,
    )
    staged = _metadata(result, "observatory_batch")
    graph = _metadata(result, "observatory_graph")
    failed_checks = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    outcome = BatchOutcome(
        key=key,
        success=result.success and not failed_checks and (bool(graph) or not must_load),
        read=int(staged.get("records_read", 0)),
        loaded=int(graph.get("records_loaded", 0)),
        duplicates=int(staged.get("duplicates", 0)),
        dead_lettered=dict(staged.get("dead_lettered_by_reason") or {}),
        seconds=time.perf_counter() - started,
        failed_checks=failed_checks,
    )
    release_unused_memory()
    return outcome


def run_batch(key: str, *, instance: DagsterInstance, resources: dict) -> BatchOutcome:
    """Stages, checks and loads one batch in one run."""
    assets = [observatory_batch, observatory_graph, observatory_batch_valid]
    return _run(key, assets, instance=instance, resources=resources, must_load=True)


def stage_run(key: str, *, instance: DagsterInstance, resources: dict) -> BatchOutcome:
    """The first half of a batch in its own run: staging and the blocking check. Successful
    only if the batch may be loaded."""
    assets = [observatory_batch, observatory_batch_valid]
    return _run(key, assets, instance=instance, resources=resources, must_load=False)


def load_run(key: str, *, instance: DagsterInstance, resources: dict) -> BatchOutcome:
    """The second half in its own run: the graph asset, its input read back from staging."""
    return _run(
        key,
        [observatory_batch, observatory_graph],
        selection=[observatory_graph],
        instance=instance,
        resources=resources,
        must_load=True,
    )


def run_specs(
    specs: list[BatchSpec],
    *,
    settings: Settings,
    instance: DagsterInstance,
    resources: dict,
    totals: RunTotals,
    on_batch: Callable[[BatchOutcome], None] | None = None,
) -> None:
    """Runs the batches in order. With more than one, each is staged while the one before it
    loads (``overlap``): the load is the longest stage and leaves a core free."""
    keys = [s.key for s in specs]
    prepare_batch_process()
    instance.add_dynamic_partitions(observatory_batches.name, keys)

    def record(outcome: BatchOutcome) -> None:
        totals.add(outcome)
        if on_batch:
            on_batch(outcome)

    if len(keys) == 1:
        record(run_batch(keys[0], instance=instance, resources=resources))
        return
    from memgraph_pipelines.overlap import run_overlapped

    loader_peak = run_overlapped(
        keys,
        settings,
        stage=lambda key: stage_run(key, instance=instance, resources=resources),
        on_batch=record,
    )
    if loader_peak is not None:
        totals.loader_peak_rss_mb = max(totals.loader_peak_rss_mb or 0.0, loader_peak)


def catch_up(
    settings: Settings,
    *,
    max_batch_records: int = 50_000,
    on_batch: Callable[[BatchOutcome], None] | None = None,
    instance: DagsterInstance | None = None,
) -> RunTotals:
    """Plan and run batches until no record is left unplanned (the sensor's logic, with every
    pending record due at once). ``instance`` defaults to the one at DAGSTER_HOME."""
    from memgraph_pipelines.definitions import build_resources

    instance = instance or ensure_dagster_home(settings)
    resources = build_resources(settings)
    totals = RunTotals()
    next_start: dict[int, int] = {}
    registrations: str | None = None
    while True:
        # Every registration on the first round, then only the new ones (as the sensor does).
        keys, registrations = registered_since(instance, observatory_batches.name, registrations)
        plan = plan_next_batches(
            settings.kafka_connection(),
            settings.observatory_topic,
            CONSUMER_GROUP,
            registered_keys=keys,
            cursor=next_start,
            max_records=max_batch_records,
            max_wait_ms=0,
            max_batches=CATCH_UP_PLAN_BATCHES,
            now_ms=int(time.time() * 1000) + 1,
        )
        if not plan.batches:
            return totals
        next_start = plan.next_start
        run_specs(
            plan.batches,
            settings=settings,
            instance=instance,
            resources=resources,
            totals=totals,
            on_batch=on_batch,
        )


def backfill(
    settings: Settings,
    *,
    start_ms: int,
    end_ms: int,
    max_batch_records: int = 50_000,
    on_batch: Callable[[BatchOutcome], None] | None = None,
) -> RunTotals:
    """Re-run the records whose Kafka timestamps fall in [start_ms, end_ms) as backfill batches."""
    from memgraph_pipelines.definitions import build_resources

    instance = ensure_dagster_home(settings)
    specs = plan_time_window(
        settings.kafka_connection(),
        settings.observatory_topic,
        start_ms=start_ms,
        end_ms=end_ms,
        max_records=max_batch_records,
    )
    totals = RunTotals()
    run_specs(
        specs,
        settings=settings,
        instance=instance,
        resources=build_resources(settings),
        totals=totals,
        on_batch=on_batch,
    )
    return totals
