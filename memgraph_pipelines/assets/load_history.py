"""What the Dagster instance knows of earlier loads, read in bounded steps.

The graph asset needs the batches loaded after the last recorded ``CommitScan``; the sensor
and `catch-up` need the batches registered since their last read. Both read only what is new,
so a tick or a load costs the same after a month of batches as after one.
"""

from __future__ import annotations

from dagster import AssetKey, DagsterEventType, DagsterInstance, JsonMetadataValue

from memgraph_pipelines.kafka.client import KafkaConnection
from memgraph_pipelines.kafka.ranges import BatchSpec, parse_keys
from memgraph_pipelines.pipeline.commit_scan import (
    WHOLE_HISTORY,
    CommitScan,
    next_scan,
    scan_start,
)
from memgraph_pipelines.pipeline.planning import CommitResult, commit_loaded

#: Metadata entry of each graph materialization that holds its ``CommitScan``.
COMMIT_SCAN_METADATA = "commit_scan"
#: Dynamic partition keys read per query when catching up on registrations.
REGISTRATIONS_PAGE = 1000


def latest_commit_scan(instance: DagsterInstance, asset_key: AssetKey) -> CommitScan | None:
    """The scan recorded by the latest materialization of ``asset_key``, if it has one."""
    records = instance.fetch_materializations(asset_key, limit=1).records
    materialization = records[0].asset_materialization if records else None
    if materialization is None:
        return None
    value = materialization.metadata.get(COMMIT_SCAN_METADATA)
    return CommitScan.from_json(value.value if isinstance(value, JsonMetadataValue) else None)


def loaded_after(
    instance: DagsterInstance, asset_key: AssetKey, topic: str, after: int
) -> list[tuple[int, BatchSpec]]:
    """(storage id, batch) of every partition of ``topic`` materialized after ``after``."""
    ids = instance.get_latest_storage_id_by_partition(
        asset_key,
        DagsterEventType.ASSET_MATERIALIZATION,
        after_cursor=None if after == WHOLE_HISTORY else after,
    )
    return [(ids[key], spec) for key in ids for spec in parse_keys([key], topic)]


def commit_after_load(
    instance: DagsterInstance,
    asset_key: AssetKey,
    connection: KafkaConnection,
    group_id: str,
    spec: BatchSpec,
) -> tuple[CommitResult, CommitScan]:
    """Commits the offsets that the load of ``spec`` makes contiguous, looking only at what
    loaded after the last recorded scan; returns the commit and the scan to record."""
    previous = latest_commit_scan(instance, asset_key)
    start = WHOLE_HISTORY
    loaded: list[tuple[int, BatchSpec]] = []

    def batches(base: dict[int, int]) -> list[BatchSpec]:
        nonlocal start, loaded
        start = scan_start(previous, spec.topic, base)
        loaded = loaded_after(instance, asset_key, spec.topic, start)
        return [*(s for _, s in loaded), spec]

    committed = commit_loaded(connection, group_id, spec.topic, batches)
    return committed, next_scan(spec.topic, start, loaded, committed.offsets)


def registered_since(
    instance: DagsterInstance, partitions_def_name: str, cursor: str | None
) -> tuple[list[str], str | None]:
    """Dynamic partition keys registered after ``cursor`` (all of them if None), oldest first,
    and where the next read starts: at this read's last page, so that a registration whose
    insert committed after this read (storage ids are handed out before commit) is still
    read. A read is thus at most one page plus what is new."""
    keys: list[str] = []
    resume = cursor
    while True:
        page = instance.get_paginated_dynamic_partitions(
            partitions_def_name, limit=REGISTRATIONS_PAGE, ascending=True, cursor=cursor
        )
        if page.results:
            keys += page.results
            resume = cursor
        cursor = page.cursor
        if not page.has_more:
            return keys, resume
