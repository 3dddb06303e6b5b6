"""Asset jobs of the code location."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from memgraph_pipelines.assets.observatory import (
    observatory_batch,
    observatory_batches,
    observatory_graph,
)

observatory_ingestion_job = define_asset_job(
    name="observatory_ingestion",
    selection=AssetSelection.assets(observatory_batch, observatory_graph),
    partitions_def=observatory_batches,
    description="One exact offset-range batch: Kafka -> Arrow -> checks -> vault -> Neo4j.",
)
