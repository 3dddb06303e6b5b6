"""A deadlock between two writers, made on purpose on the real server: the transaction Neo4j
ends is retried by graph.deadlocks (not after the driver's 1 s wait) and both writes land."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from neo4j import ManagedTransaction

from memgraph_pipelines.graph.deadlocks import execute_write

pytestmark = pytest.mark.services

TOUCH = "MATCH (n:DeadlockProbe {id: $id}) SET n.writes = coalesce(n.writes, 0) + 1"


def test_a_deadlock_is_retried_and_both_writes_land(empty_graph, settings, caplog) -> None:
    db = settings.neo4j_database
    empty_graph.execute_query("UNWIND ['a', 'b'] AS id CREATE (:DeadlockProbe {id: id})")
    each_holds_one = threading.Barrier(2, timeout=30)
    attempts: Counter[str] = Counter()

    def crosswise(tx: ManagedTransaction, first: str, second: str) -> str:
        attempts[first] += 1
        tx.run(TOUCH, id=first).consume()
        if attempts[first] == 1:
            each_holds_one.wait()  # both hold their first node's lock; each asks for the other
        tx.run(TOUCH, id=second).consume()
        return first

    def writer(first: str, second: str) -> str:
        with empty_graph.session(database=db) as session:
            return execute_write(session, crosswise, first, second)

    try:
        with (
            caplog.at_level(logging.INFO, logger="memgraph_pipelines.graph.deadlocks"),
            ThreadPoolExecutor(max_workers=2) as pool,
        ):
            results = list(pool.map(writer, ["a", "b"], ["b", "a"]))
        records, _, _ = empty_graph.execute_query(
            "MATCH (n:DeadlockProbe) RETURN n.id AS id, n.writes AS writes"
        )
    finally:
        empty_graph.execute_query("MATCH (n:DeadlockProbe) DELETE n")
    assert results == ["a", "b"]
    assert sorted(attempts.values()) == [1, 2]  # Neo4j ended one of the two; it ran again
    assert "deadlock between writers, retry 1 in 0.02 s" in caplog.text
    assert {r["id"]: r["writes"] for r in records} == {"a": 2, "b": 2}
