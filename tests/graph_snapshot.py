"""Test helper: the whole graph as a sorted, comparable structure, free of internal ids.

Nodes are (labels, properties); relationships are (type, start key, end key, properties), a key
being (labels, id). Two snapshots are equal exactly when the graphs hold the same data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from neo4j import Driver
from neo4j.time import Date, DateTime, Duration, Time

Key = tuple[tuple[str, ...], Any]


def datetime_value(value: datetime) -> tuple[str, str]:
    """How a DateTime property appears in a snapshot (UTC, ISO-8601)."""
    return ("DateTime", value.astimezone(UTC).isoformat())


def epoch_ms(ms: int) -> tuple[str, str]:
    """The snapshot form of ``datetime({epochMillis: ms})``."""
    return datetime_value(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms))


ALL_NODES = "MATCH (n) RETURN labels(n) AS labels, properties(n) AS props"
ALL_RELATIONSHIPS = """
MATCH (a)-[r]->(b)
RETURN type(r) AS type, labels(a) AS a_labels, a.id AS a_id,
       labels(b) AS b_labels, b.id AS b_id, properties(r) AS props
"""


def _value(value: Any) -> Any:
    if isinstance(value, DateTime):
        return datetime_value(value.to_native())
    if isinstance(value, Date | Time | Duration):
        return (type(value).__name__, value.iso_format())
    if isinstance(value, list):
        return tuple(_value(v) for v in value)
    return value


def _props(props: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, _value(v)) for k, v in props.items()))


def _sort_key(item: Any) -> str:
    return repr(item)


def graph_snapshot(
    driver: Driver,
    database: str,
    *,
    exclude_labels: frozenset[str] = frozenset({"SchemaMigration"}),
) -> dict[str, list[Any]]:
    with driver.session(database=database) as session:
        nodes = session.execute_read(lambda tx: list(tx.run(ALL_NODES)))
        rels = session.execute_read(lambda tx: list(tx.run(ALL_RELATIONSHIPS)))
    node_items = [
        (tuple(sorted(r["labels"])), _props(r["props"]))
        for r in nodes
        if not exclude_labels.intersection(r["labels"])
    ]
    rel_items = [
        (
            r["type"],
            (tuple(sorted(r["a_labels"])), r["a_id"]),
            (tuple(sorted(r["b_labels"])), r["b_id"]),
            _props(r["props"]),
        )
        for r in rels
    ]
    return {
        "nodes": sorted(node_items, key=_sort_key),
        "relationships": sorted(rel_items, key=_sort_key),
    }


def node_props(snapshot: dict[str, list[Any]], label: str, node_id: str) -> dict[str, Any]:
    """The properties of one node of a snapshot (KeyError when absent)."""
    for labels, props in snapshot["nodes"]:
        as_dict = dict(props)
        if label in labels and as_dict.get("id") == node_id:
            return as_dict
    raise KeyError((label, node_id))


def relationship_keys(snapshot: dict[str, list[Any]]) -> set[tuple[str, Any, Any]]:
    """(type, start id, end id) of every relationship."""
    return {(t, a[1], b[1]) for t, a, b, _ in snapshot["relationships"]}
