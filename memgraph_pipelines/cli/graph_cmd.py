"""`graph migrate` and `graph summary`."""

from __future__ import annotations

import argparse
import json


def _driver():
    import neo4j

    from memgraph_pipelines.settings import Settings

    s = Settings.from_env()
    driver = neo4j.GraphDatabase.driver(
        s.neo4j_uri, auth=(s.neo4j_username, s.neo4j_password or "")
    )
    return driver, s.neo4j_database


def _migrate(args: argparse.Namespace) -> int:
    from memgraph_pipelines.graph.migrations import apply_migrations

    driver, database = _driver()
    with driver:
        applied = apply_migrations(driver, database)
    print(json.dumps({"applied": applied}))
    return 0


def _summary(args: argparse.Namespace) -> int:
    from memgraph_pipelines.graph.summary import graph_summary

    driver, database = _driver()
    with driver:
        print(json.dumps(graph_summary(driver, database), sort_keys=True))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    graph = subparsers.add_parser("graph", help="The Neo4j lineage graph.")
    actions = graph.add_subparsers(dest="graph_command", required=True)
    actions.add_parser("migrate", help="Apply the schema migrations.").set_defaults(func=_migrate)
    actions.add_parser("summary", help="Node and relationship counts, as JSON.").set_defaults(
        func=_summary
    )
