"""`memgraph-pipelines services up | down | status | env`: the local Kafka and Neo4j servers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

ENV_HELP = 'prints `export` lines for the local services: eval "$(memgraph-pipelines services env)"'


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "services",
        help="local Apache Kafka (KRaft) and Neo4j Community servers from Maven Central",
        description=(
            "Runs a local Kafka broker and Neo4j server on loopback. Ports: MEMGRAPH_KAFKA_PORT, "
            "MEMGRAPH_KAFKA_CONTROLLER_PORT, MEMGRAPH_NEO4J_BOLT_PORT; heaps: MEMGRAPH_KAFKA_HEAP, "
            "MEMGRAPH_NEO4J_HEAP, MEMGRAPH_NEO4J_PAGECACHE; state under MEMGRAPH_HOME, downloads "
            "under MEMGRAPH_CACHE."
        ),
    )
    actions = parser.add_subparsers(dest="services_action", required=True)
    actions.add_parser(
        "up", help="download (once), start and wait for both servers; create the topics"
    ).set_defaults(func=run_up)
    actions.add_parser("down", help="stop the servers that `up` started").set_defaults(
        func=run_down
    )
    actions.add_parser(
        "status", help="what runs where; exit 0 if both answer, 3 otherwise"
    ).set_defaults(func=run_status)
    actions.add_parser("env", help=ENV_HELP).set_defaults(func=run_env)


def _config() -> Any:
    from memgraph_pipelines.services.config import ServiceConfig

    return ServiceConfig.from_env()


def run_up(args: argparse.Namespace) -> int:
    from memgraph_pipelines.services import manager
    from memgraph_pipelines.services.config import ServiceConfigError

    try:
        manager.up(_config())
    except (manager.ServiceError, ServiceConfigError) as exc:
        print(f"services up failed: {exc}", file=sys.stderr)
        return 1
    return 0


def run_down(args: argparse.Namespace) -> int:
    from memgraph_pipelines.services import manager
    from memgraph_pipelines.services.config import ServiceConfigError

    try:
        manager.down(_config())
    except ServiceConfigError as exc:
        print(f"services down failed: {exc}", file=sys.stderr)
        return 1
    return 0


def run_status(args: argparse.Namespace) -> int:
    from memgraph_pipelines.services import manager
    from memgraph_pipelines.services.config import ServiceConfigError

    try:
        statuses = manager.status(_config())
    except ServiceConfigError as exc:
        print(f"services status failed: {exc}", file=sys.stderr)
        return 1
    for item in statuses:
        print(item.line())
    return 0 if all(item.reachable for item in statuses) else manager.EXIT_NOT_RUNNING


def run_env(args: argparse.Namespace) -> int:
    from memgraph_pipelines.services import manager
    from memgraph_pipelines.services.config import ServiceConfigError

    try:
        config = _config()
    except ServiceConfigError as exc:
        print(f"services env failed: {exc}", file=sys.stderr)
        return 1
    if not config.neo4j_password_file.is_file():
        print(
            f"note: {config.neo4j_password_file} does not exist yet; run `services up` first",
            file=sys.stderr,
        )
    for line in manager.env_lines(manager.env_values(config)):
        print(line)
    return 0
