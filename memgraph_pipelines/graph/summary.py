"""Node counts per label and relationship counts per type, from the count store. Plain module."""

from __future__ import annotations

from typing import Any

from neo4j import Driver, ManagedTransaction

from memgraph_pipelines.graph import cypher

#: Bookkeeping labels that are not part of the lineage graph.
INTERNAL_LABELS = frozenset({"SchemaMigration"})


def _graph_counts(tx: ManagedTransaction) -> dict[str, Any]:
    record = tx.run(cypher.GRAPH_COUNTS).single(strict=True)
    return record["data"]


def graph_summary(driver: Driver, database: str) -> dict[str, dict[str, int]]:
    """{"nodes": {label: count}, "relationships": {type: count}}; empty labels/types left out."""
    with driver.session(database=database) as session:
        data = session.execute_read(_graph_counts)
    # Entries without a label (or with start/end labels) are totals and per-pattern counts.
    nodes = {
        entry["label"]: entry["count"]
        for entry in data["nodes"]
        if "label" in entry and entry["count"] > 0 and entry["label"] not in INTERNAL_LABELS
    }
    relationships = {
        entry["relationshipType"]: entry["count"]
        for entry in data["relationships"]
        if "relationshipType" in entry
        and "startLabel" not in entry
        and "endLabel" not in entry
        and entry["count"] > 0
    }
    return {
        "nodes": dict(sorted(nodes.items())),
        "relationships": dict(sorted(relationships.items())),
    }
