"""Shared fixtures. Servers are real: the Kafka broker and Neo4j server that
`memgraph-pipelines services up` starts (or whatever KAFKA_BROKERS / NEO4J_URI name), and a
moto server for AWS KMS and S3, started here on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from memgraph_pipelines.settings import Settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def kafka_brokers(settings: Settings) -> str:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.kafka_brokers})
    try:
        admin.list_topics(timeout=10)
    except Exception as exc:  # the broker is a hard requirement of these tests
        pytest.fail(f"Kafka broker at {settings.kafka_brokers} is not reachable: {exc}")
    return settings.kafka_brokers


@pytest.fixture
def fresh_topic(kafka_brokers: str) -> Iterator[Callable[..., str]]:
    """Factory: creates a uniquely named topic (and its -dlq twin) and deletes them after."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    created: list[str] = []

    def make(prefix: str = "test", partitions: int = 3) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        topics = [NewTopic(name, partitions, 1), NewTopic(f"{name}-dlq", 1, 1)]
        for future in admin.create_topics(topics).values():
            future.result(timeout=30)
        created.extend(t.topic for t in topics)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            with contextlib.suppress(Exception):  # best effort: the names are unique
                future.result(timeout=30)


@pytest.fixture(scope="session")
def neo4j_driver(settings: Settings) -> Iterator[object]:
    import neo4j

    driver = neo4j.GraphDatabase.driver(
        settings.neo4j_uri, auth=(settings.neo4j_username, settings.neo4j_password or "")
    )
    try:
        driver.verify_connectivity()
    except Exception as exc:
        pytest.fail(f"Neo4j at {settings.neo4j_uri} is not reachable: {exc}")
    yield driver
    driver.close()


@pytest.fixture
def empty_graph(neo4j_driver, settings: Settings):
    """The graph emptied of data (schema kept) before the test."""
    from memgraph_pipelines.graph.wipe import delete_all

    delete_all(neo4j_driver, settings.neo4j_database)
    return neo4j_driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server (KMS + S3 over HTTP) on loopback."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("moto server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Environment pointing boto3 at the moto server with throwaway credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


def pytest_report_header() -> str:
    s = Settings.from_env()
    return f"KAFKA_BROKERS={s.kafka_brokers} NEO4J_URI={s.neo4j_uri}"
