"""Neo4j as a Dagster resource: one driver per process (with neo4j-rust-ext installed, the
driver's packstream runs in Rust)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr


class Neo4jResource(ConfigurableResource):
    """The lineage graph."""

    uri: str = Field(description="bolt:// or neo4j:// URI (NEO4J_URI).")
    username: str = Field(default="neo4j", description="NEO4J_USERNAME.")
    password: str = Field(description="NEO4J_PASSWORD.")
    database: str = Field(default="neo4j", description="NEO4J_DATABASE.")
    # graph.loader.DEFAULT_CHUNK_SIZE, not imported here: the loader imports the driver.
    load_chunk_size: int = Field(default=2000, description="Rows per UNWIND transaction.")
    # graph.loader.DEFAULT_WRITERS.
    load_writers: int = Field(
        default=2, description="Sessions that write a batch's partitions side by side."
    )

    _driver: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._driver = None

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def transaction_hook(self) -> Callable[[str, int], None] | None:
        """Called after each committed load transaction; None here. Test resources override it
        to fail a run between two transactions."""
        return None

    def driver(self) -> Any:
        if self._driver is None:
            import neo4j

            self._driver = neo4j.GraphDatabase.driver(
                self.uri, auth=(self.username, self.password), max_connection_pool_size=8
            )
        return self._driver
