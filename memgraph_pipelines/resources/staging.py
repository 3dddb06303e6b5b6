"""Parquet staging of batches through a UPath-based IO manager: a local directory by default,
``s3://`` (with s3fs) in production. A staged batch is a folder: one Parquet file per table and
``manifest.json`` with its accounting. What is staged holds no plaintext of a sensitive text."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManagerFactory,
    InputContext,
    OutputContext,
    UPathIOManager,
)
from pydantic import Field
from upath import UPath

from memgraph_pipelines.pipeline.batch import StagedBatch
from memgraph_pipelines.telemetry.schemas import TABLE_SCHEMAS

MANIFEST = "manifest.json"


class ParquetBatchIOManager(UPathIOManager):
    extension = ""

    def get_path_for_partition(
        self, context: InputContext | OutputContext, path: UPath, partition: str
    ) -> UPath:
        # A batch key holds ':' (topic:ranges), which some filesystems and URL parsers treat
        # as a scheme separator; '@' is safe everywhere.
        return path / partition.replace(":", "@")

    def dump_to_path(self, context: OutputContext, obj: StagedBatch, path: UPath) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for name, table in obj.tables.items():
            with (path / f"{name}.parquet").open("wb") as f:
                pq.write_table(table, f, compression="zstd")
        # The manifest goes last: a folder without one is an interrupted write.
        (path / MANIFEST).write_text(json.dumps(obj.manifest(), sort_keys=True))

    def load_from_path(self, context: InputContext, path: UPath) -> StagedBatch:
        manifest = json.loads((path / MANIFEST).read_text())
        tables: dict[str, pa.Table] = {}
        for name, schema in TABLE_SCHEMAS.items():
            with (path / f"{name}.parquet").open("rb") as f:
                tables[name] = pq.read_table(f, schema=schema)
        return StagedBatch.from_manifest(manifest, tables)


class StagingIOManager(ConfigurableIOManagerFactory):
    """Where batches are staged (STAGING_URI)."""

    base_uri: str = Field(description="A directory or s3://bucket/prefix.")

    def create_io_manager(self, context: Any) -> ParquetBatchIOManager:
        return ParquetBatchIOManager(base_path=UPath(self.base_uri))
