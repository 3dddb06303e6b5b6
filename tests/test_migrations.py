"""Schema migrations against the real Neo4j server."""

from __future__ import annotations

import pytest

from memgraph_pipelines.graph.migrations import MIGRATIONS, apply_migrations

pytestmark = pytest.mark.services

SPEC_LABELS = {
    "Invocation",
    "Model",
    "ModelVersion",
    "Prompt",
    "Response",
    "Session",
    "User",
    "Error",
    "PerformanceMetric",
}
EXPECTED_INDEXES = {
    ("Invocation", ("timestamp",)),
    ("Invocation", ("model_id", "timestamp")),
    ("Model", ("provider",)),
    ("Prompt", ("text_hmac",)),
    ("Session", ("user_id",)),
    ("Invocation", ("session_id",)),
}


def test_migration_names_are_unique_ordered_and_idempotent_statements() -> None:
    names = [m.name for m in MIGRATIONS]
    assert len(names) == len(set(names))
    assert names == sorted(names)
    assert all("IF NOT EXISTS" in m.statement for m in MIGRATIONS)


def test_apply_twice_applies_nothing_the_second_time(empty_graph, settings) -> None:
    first = apply_migrations(empty_graph, settings.neo4j_database)
    # empty_graph wipes the records but keeps the schema: every statement re-runs harmlessly.
    assert first == [m.name for m in MIGRATIONS]
    assert apply_migrations(empty_graph, settings.neo4j_database) == []
    records, _, _ = empty_graph.execute_query(
        "MATCH (m:SchemaMigration) RETURN m.id AS id ORDER BY id",
        database_=settings.neo4j_database,
    )
    assert [r["id"] for r in records] == [m.name for m in MIGRATIONS]


def test_constraints_and_indexes_exist_and_are_online(empty_graph, settings) -> None:
    apply_migrations(empty_graph, settings.neo4j_database)
    constraints, _, _ = empty_graph.execute_query(
        "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties",
        database_=settings.neo4j_database,
    )
    unique_on_id = {
        c["labelsOrTypes"][0]
        for c in constraints
        if c["type"] == "UNIQUENESS" and c["properties"] == ["id"]
    }
    assert unique_on_id >= SPEC_LABELS | {"SchemaMigration"}

    indexes, _, _ = empty_graph.execute_query(
        "SHOW INDEXES YIELD type, state, labelsOrTypes, properties WHERE type = 'RANGE'",
        database_=settings.neo4j_database,
    )
    online = {
        (i["labelsOrTypes"][0], tuple(i["properties"])) for i in indexes if i["state"] == "ONLINE"
    }
    assert online >= EXPECTED_INDEXES
    assert {(label, ("id",)) for label in SPEC_LABELS} <= online
