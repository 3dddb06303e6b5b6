"""Emptying a graph (for the benchmark and the tests; never called by the pipeline)."""

from __future__ import annotations

from neo4j import Driver

#: Relationships go first, in their own batches: a node with many relationships (a Model used
#: by every invocation) deleted with DETACH in one inner transaction can exceed Neo4j's
#: transaction memory limit. CALL ... IN TRANSACTIONS needs auto-commit, hence session.run.
DELETE_RELATIONSHIPS = "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"
DELETE_NODES = "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS"


def delete_all(driver: Driver, database: str) -> None:
    """Delete every relationship and node; constraints and indexes stay."""
    with driver.session(database=database) as session:
        session.run(DELETE_RELATIONSHIPS).consume()
        session.run(DELETE_NODES).consume()
