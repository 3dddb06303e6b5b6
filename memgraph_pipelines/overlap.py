"""Stage one batch while the one before it loads.

A batch's load (Neo4j merging on one thread) is its longest part and leaves the second core
mostly idle, while staging (Kafka read, decode, checks, vault) is Python work. Running the two
halves of consecutive batches side by side, in two processes (threads would share one
interpreter and Dagster's log handlers), makes a catch-up take about the time of its loads.

The calling process stages (``stage`` runs the asset and its blocking check); one loader
process, started once, runs the graph asset of each batch that may be loaded, in order. Both
use the same Dagster instance, assets and resources, so every run shows in the UI as usual.
At most one staged batch waits for the loader, which bounds the staging kept on disk.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

from memgraph_pipelines.inprocess import BatchOutcome
from memgraph_pipelines.memory import batch_process_environment
from memgraph_pipelines.settings import Settings

#: Staged batches allowed to wait while the loader works on another.
MAX_WAITING = 1
#: How often a wait for the loader checks that it is still alive.
POLL_SECONDS = 1.0


class LoaderProcessError(RuntimeError):
    """The loader process ended before loading every batch sent to it."""


def _loader_main(settings: Settings, keys: Any, outcomes: Any) -> None:
    # What the first load would otherwise import on its clock, done while that batch stages.
    import memgraph_pipelines.graph.loader  # noqa: F401
    from memgraph_pipelines.definitions import build_resources
    from memgraph_pipelines.inprocess import ensure_dagster_home, load_run
    from memgraph_pipelines.memory import peak_rss_mb, prepare_batch_process

    prepare_batch_process()
    instance = ensure_dagster_home(settings)
    resources = build_resources(settings)
    for key in iter(keys.get, None):
        outcomes.put(load_run(key, instance=instance, resources=resources))
    outcomes.put(peak_rss_mb())  # the last message: for the caller's report


def _combined(staged: BatchOutcome, loaded: BatchOutcome) -> BatchOutcome:
    return BatchOutcome(
        key=staged.key,
        success=loaded.success,
        read=staged.read,
        loaded=loaded.loaded,
        duplicates=staged.duplicates,
        dead_lettered=staged.dead_lettered,
        seconds=staged.seconds + loaded.seconds,
        failed_checks=staged.failed_checks,
    )


def run_overlapped(
    keys: list[str],
    settings: Settings,
    *,
    stage: Callable[[str], BatchOutcome],
    on_batch: Callable[[BatchOutcome], None],
) -> float | None:
    """Stages ``keys`` in order here and loads each staged one in the loader process;
    ``on_batch`` gets every batch's outcome (a batch that failed or was held at staging is
    reported at once and never loaded). Returns the loader's peak RSS in MB, if it said."""
    context = multiprocessing.get_context("spawn")
    to_load = context.Queue()
    loaded = context.Queue()
    loader = context.Process(
        target=_loader_main, args=(settings, to_load, loaded), name="memgraph-loader", daemon=True
    )
    with batch_process_environment():
        loader.start()
    waiting: dict[str, BatchOutcome] = {}

    def collect_one() -> None:
        while True:
            try:
                outcome = loaded.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not loader.is_alive():
                    raise LoaderProcessError(
                        f"the loader process exited with code {loader.exitcode}; "
                        f"not loaded: {', '.join(waiting)}"
                    ) from None
                continue
            on_batch(_combined(waiting.pop(outcome.key), outcome))
            return

    try:
        for key in keys:
            staged = stage(key)
            if not staged.success:
                on_batch(staged)
                continue
            waiting[key] = staged
            to_load.put(key)
            while len(waiting) > MAX_WAITING:
                collect_one()
        to_load.put(None)
        while waiting:
            collect_one()
        try:
            return float(loaded.get(timeout=30))
        except queue.Empty:
            return None
    finally:
        to_load.put(None)
        loader.join(timeout=30)
        if loader.is_alive():
            loader.terminate()
            loader.join()
