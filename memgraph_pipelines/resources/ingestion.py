"""Batching and validation knobs of the Observatory ingestion, as a Dagster resource."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from memgraph_pipelines.settings import DEFAULT_OBSERVATORY_TOPIC


class IngestionResource(ConfigurableResource):
    observatory_topic: str = Field(
        default=DEFAULT_OBSERVATORY_TOPIC, description="OBSERVATORY_TOPIC."
    )
    max_batch_records: int = Field(default=50_000, description="Size cap of one batch.")
    max_wait_seconds: int = Field(
        default=60,
        description="A smaller batch is emitted once its oldest record waited this long.",
    )
    max_runs_per_tick: int = Field(default=4, description="Runs one sensor tick may request.")
    validate_batches: bool = Field(default=True, description="Run the expectation suite.")
    failure_threshold: float = Field(
        default=0.05, description="Share of failing records above which a batch is held."
    )
