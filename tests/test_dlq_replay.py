"""DLQ replay and `dlq show` against the real broker and Neo4j: fixed records reach the graph
with their original provenance, the others go round again with x-retry-count + 1 until they are
parked, progress is kept, and encrypted values stay encrypted everywhere but `--decrypt`."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from memgraph_pipelines.cli.main import main
from memgraph_pipelines.kafka.client import KafkaConnection, committed_offsets
from memgraph_pipelines.kafka.dlq import (
    build_dead_letter_message,
    parse_dead_letter,
    produce_dead_letters,
)
from memgraph_pipelines.kafka.records import KafkaRecord
from memgraph_pipelines.pipeline.replay import (
    H_PARKED_AT,
    REPLAY_GROUP,
    ReplayFilter,
    ReplayOptions,
    ReplayTargets,
    replay_dead_letters,
)
from memgraph_pipelines.settings import Settings, dlq_topic, parked_topic
from memgraph_pipelines.telemetry.outcome import DeadLetter, FailureReason
from memgraph_pipelines.validation.suite import ValidationConfig
from memgraph_pipelines.vault.kek import LocalFileKek
from memgraph_pipelines.vault.store import LocalVaultStore

#: Accepts the 2019 timestamps that the default floor (2020) dead-lettered.
RELAXED = ValidationConfig(timestamp_floor=datetime(2010, 1, 1, tzinfo=UTC))
HMAC_SECRET = b"test-hmac-secret-for-dlq-replay"


@pytest.fixture
def topic(fresh_topic: Callable[..., str], kafka_brokers: str) -> Iterator[str]:
    name = fresh_topic("dlqr")
    yield name
    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    for future in admin.delete_topics([parked_topic(name)]).values():
        with contextlib.suppress(Exception):  # not created by every test
            future.result(timeout=30)


@pytest.fixture
def kek(tmp_path: Path) -> LocalFileKek:
    return LocalFileKek(tmp_path / "keys" / "kek.key")


@pytest.fixture
def targets(kafka_brokers, empty_graph, settings: Settings, kek, tmp_path) -> ReplayTargets:
    return ReplayTargets(
        connection=KafkaConnection(kafka_brokers),
        driver=empty_graph,
        database=settings.neo4j_database,
        kek=kek,
        store=LocalVaultStore(str(tmp_path / "vault")),
        hmac_secret=HMAC_SECRET,
    )


def _event(event_id: str, event_type: str, payload: dict, ts: str = "2026-11-30T09:00:00Z"):
    return {"event_id": event_id, "event_type": event_type, "timestamp": ts, "payload": payload}


def _prompt(event_id: str, text: str, **payload: object) -> dict:
    body = {"prompt": {"text": text}, "session": {"id": "s-1"}, "model": {"id": "gpt-4o"}}
    return _event(event_id, "llm.prompt.submitted", {**body, **payload})


def _dead(
    topic: str, offset: int, doc: dict, reason: FailureReason, *, sensitive: bool, retries: int = 0
) -> DeadLetter:
    record = KafkaRecord(topic, 1, offset, b"s-1", orjson.dumps(doc), 1_796_029_200_000)
    return DeadLetter(record, reason, f"test {reason.value}", sensitive, None, retries)


def _produce(brokers: str, topic: str, dead: list[DeadLetter], kek, timestamps=()) -> None:
    producer = Producer({"bootstrap.servers": brokers})
    if not timestamps:
        produce_dead_letters(producer, dlq_topic(topic), dead, kek=kek)
        return
    for dl, ts in zip(dead, timestamps, strict=True):
        m = build_dead_letter_message(dl, kek=kek)
        producer.produce(dlq_topic(topic), m.value, m.key, headers=m.headers, timestamp=ts)
    assert producer.flush(30) == 0


def _messages_eof(brokers: str, topic: str) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"t-{uuid.uuid4().hex}",
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found = []
    try:
        while True:
            m = consumer.poll(10.0)
            assert m is not None, f"no end of {topic} within 10 s"
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                return found
            found.append(m)
    finally:
        consumer.close()


def _node(driver, database: str, label: str, node_id: str) -> dict | None:
    with driver.session(database=database) as session:
        record = session.run(
            "MATCH (n {id: $id}) WHERE $label IN labels(n) RETURN properties(n) AS p",
            id=node_id,
            label=label,
        ).single()
    return record["p"] if record else None


def test_replay_loads_fixed_records_retries_and_parks_the_rest(
    topic: str, targets: ReplayTargets, kafka_brokers: str, kek, settings: Settings
) -> None:
    tag = uuid.uuid4().hex[:8]
    marker = f"secret-{tag}"
    dead = [
        # Dead-lettered with a stale reason; valid as it stands, sensitive (an e-mail address).
        _dead(topic, 100, _prompt(f"p-{tag}", f"write to {marker}@example.com"),
              FailureReason.MISSING_FIELD, sensitive=True),
        # Failed the 2020 timestamp floor, which the replay's configuration no longer has.
        _dead(topic, 101, _event(f"c-{tag}", "llm.invocation.complete",
              {"model_id": "gpt-4o", "status": "success"}, ts="2019-06-01T00:00:00Z"),
              FailureReason.VALIDATION_FAILED, sensitive=False),
        # Still invalid: an unknown metric type; and a sensitive prompt still lacking a session.
        _dead(topic, 102, _event(f"m-{tag}", "llm.latency.measured",
              {"invocation_id": "i", "metric_type": "speed", "value": 1}),
              FailureReason.INVALID_VALUE, sensitive=False),
        _dead(topic, 103, _prompt(f"q-{tag}", f"call {marker} at 555-867-5309", session=None),
              FailureReason.MISSING_FIELD, sensitive=True),
        # Still invalid, and out of retries already.
        _dead(topic, 104, _event(f"n-{tag}", "llm.latency.measured",
              {"invocation_id": "i", "metric_type": "latency", "value": -1}),
              FailureReason.INVALID_VALUE, sensitive=False, retries=2),
        # Encrypted once (it could not be told apart then): stays encrypted while it fails.
        _dead(topic, 105, _event(f"o-{tag}", "llm.latency.measured",
              {"invocation_id": "i", "metric_type": "speed", "value": 2}),
              FailureReason.INVALID_VALUE, sensitive=True),
    ]  # fmt: skip
    _produce(kafka_brokers, topic, dead, kek)
    options = ReplayOptions(max_retries=2, validation=RELAXED)

    first = replay_dead_letters(topic, targets, options)
    assert first.as_json() | {"committed_offsets": None} == {
        "read": 6,
        "loaded": 2,
        "dead_lettered_again": {"invalid_value": 2, "missing_field": 1},
        "parked": 1,
        "skipped_by_filter": 0,
        "duplicates": 0,
        "committed_offsets": None,
    }
    database = settings.neo4j_database
    prompt = _node(targets.driver, database, "Prompt", f"p-{tag}")
    assert prompt is not None and prompt["has_sensitive_content"] is True
    assert "text" not in prompt and marker not in json.dumps(prompt, default=str)
    invocation = _node(targets.driver, database, "Invocation", f"c-{tag}")
    assert invocation is not None
    assert (invocation["source_topic"], invocation["source_partition"]) == (topic, 1)
    assert invocation["source_offset"] == 101
    assert invocation["batch_key"] == "dlq-replay:0=0-6"

    dlq = _messages_eof(kafka_brokers, dlq_topic(topic))
    assert len(dlq) == 9
    again = {parse_dead_letter(m.headers()).original_offset: m for m in dlq[6:]}
    assert set(again) == {102, 103, 105}
    for offset, message in again.items():
        headers = parse_dead_letter(message.headers())
        assert (headers.original_topic, headers.original_partition) == (topic, 1)
        assert headers.retry_count == 1
        assert headers.encrypted is (offset in (103, 105))
    assert all(marker.encode() not in (m.value() or b"") for m in dlq)
    assert all(marker.encode() not in v for m in dlq for _, v in m.headers() or ())

    parked = _messages_eof(kafka_brokers, parked_topic(topic))
    assert len(parked) == 1
    parked_headers = parse_dead_letter(parked[0].headers())
    assert (parked_headers.original_offset, parked_headers.retry_count) == (104, 3)
    assert H_PARKED_AT in dict(parked[0].headers())
    connection = KafkaConnection(kafka_brokers)
    assert committed_offsets(connection, REPLAY_GROUP, dlq_topic(topic)) == {0: 6}

    second = replay_dead_letters(topic, targets, options)
    assert (second.read, second.loaded, second.parked) == (3, 0, 0)
    assert dict(second.dead_lettered_again) == {"invalid_value": 2, "missing_field": 1}
    third = replay_dead_letters(topic, targets, options)
    assert (third.read, third.loaded, third.parked, sum(third.dead_lettered_again.values())) == (
        3, 0, 3, 0,
    )  # fmt: skip
    parked = _messages_eof(kafka_brokers, parked_topic(topic))
    offsets = sorted(parse_dead_letter(m.headers()).original_offset for m in parked)
    assert offsets == [102, 103, 104, 105]
    last = [parse_dead_letter(m.headers()) for m in parked[1:]]
    assert [(h.retry_count, h.encrypted) for h in last] == [(3, False), (3, True), (3, True)]
    assert all(marker.encode() not in (m.value() or b"") for m in parked)

    assert replay_dead_letters(topic, targets, options).as_json()["read"] == 0


def test_filters_requeue_what_they_skip(
    topic: str, targets: ReplayTargets, kafka_brokers: str, kek
) -> None:
    tag = uuid.uuid4().hex[:8]
    now_ms = int(time.time() * 1000)
    dead = [
        _dead(topic, 10, _event(f"a-{tag}", "llm.latency.measured",
              {"invocation_id": "i", "metric_type": "latency", "value": 5}),
              FailureReason.INVALID_VALUE, sensitive=False),
        _dead(topic, 11, _event(f"b-{tag}", "llm.latency.measured",
              {"invocation_id": "i", "metric_type": "latency", "value": 6}),
              FailureReason.UNKNOWN_EVENT_TYPE, sensitive=False),
        _dead(topic, 12, _event(f"c-{tag}", "llm.latency.measured",
              {"invocation_id": "i", "metric_type": "latency", "value": 7}),
              FailureReason.INVALID_VALUE, sensitive=False),
    ]  # fmt: skip
    old = now_ms - 3 * 86_400_000
    _produce(kafka_brokers, topic, dead, kek, timestamps=(now_ms, now_ms, old))
    since = ReplayFilter(reason="invalid_value", since_ms=now_ms - 86_400_000)

    first = replay_dead_letters(topic, targets, ReplayOptions(filter=since))
    assert (first.read, first.loaded, first.skipped_by_filter) == (3, 1, 2)
    dlq = _messages_eof(kafka_brokers, dlq_topic(topic))
    requeued = dlq[3:]
    assert [parse_dead_letter(m.headers()).original_offset for m in requeued] == [11, 12]
    assert [m.timestamp()[1] for m in requeued] == [now_ms, old]
    assert [m.value() for m in requeued] == [m.value() for m in dlq[1:3]]

    same_again = replay_dead_letters(topic, targets, ReplayOptions(filter=since))
    assert (same_again.read, same_again.loaded, same_again.skipped_by_filter) == (2, 0, 2)
    everything = replay_dead_letters(topic, targets, ReplayOptions())
    assert (everything.read, everything.loaded, everything.skipped_by_filter) == (2, 2, 0)
    assert replay_dead_letters(topic, targets, ReplayOptions()).read == 0


@pytest.fixture
def cli_env(topic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVATORY_TOPIC", topic)
    monkeypatch.setenv("LOCAL_KEK_FILE", str(tmp_path / "keys" / "kek.key"))
    monkeypatch.setenv("VAULT_LOCAL_URI", str(tmp_path / "vault"))
    monkeypatch.setenv("TEXT_HMAC_SECRET", HMAC_SECRET.decode())


def test_show_redacts_unless_decrypt_and_commits_nothing(
    topic: str, cli_env: None, kafka_brokers: str, kek, empty_graph, capsys
) -> None:
    marker = f"secret-{uuid.uuid4().hex[:8]}"
    dead = [
        _dead(topic, 7, _prompt("p-1", f"write to {marker}@example.com", session=None),
              FailureReason.MISSING_FIELD, sensitive=True),
        _dead(topic, 8, _event("m-1", "llm.latency.measured",
              {"invocation_id": "i", "metric_type": "speed", "value": 1}),
              FailureReason.INVALID_VALUE, sensitive=False),
    ]  # fmt: skip
    _produce(kafka_brokers, topic, dead, kek)

    assert main(["dlq", "show", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["original_offset"], e["reason"], e["encrypted"]) for e in listed] == [
        (7, "missing_field", True),
        (8, "invalid_value", False),
    ]
    assert marker not in json.dumps(listed)
    assert listed[0]["value"].startswith("<encrypted: ") and listed[0]["value"].endswith(" bytes>")
    assert '"speed"' in listed[1]["value"]

    assert main(["dlq", "show"]) == 0
    text = capsys.readouterr().out
    assert "<encrypted: " in text and marker not in text and "reason=invalid_value" in text

    assert main(["dlq", "show", "--reason", "missing_field", "--decrypt"]) == 0
    text = capsys.readouterr().out
    assert marker in text and "invalid_value" not in text

    connection = KafkaConnection(kafka_brokers)
    for group in (REPLAY_GROUP, "memory-graph-dlq-show"):
        assert committed_offsets(connection, group, dlq_topic(topic)) == {}

    assert main(["dlq", "replay", "--reason", "invalid_value"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["skipped_by_filter"]) == (2, 1)
    assert summary["dead_lettered_again"] == {"invalid_value": 1}
    assert marker not in json.dumps(summary)
    assert main(["dlq", "show", "--json"]) == 0  # only what waits for the next replay
    pending = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["original_offset"], e["retry_count"]) for e in pending] == [(7, 0), (8, 1)]


def test_dagster_job_runs_the_same_replay(
    topic: str, kafka_brokers: str, kek, empty_graph, settings: Settings, tmp_path: Path
) -> None:
    from memgraph_pipelines.assets.dlq import dlq_replay_job
    from memgraph_pipelines.resources.ingestion import IngestionResource
    from memgraph_pipelines.resources.kafka import KafkaResource
    from memgraph_pipelines.resources.neo4j import Neo4jResource
    from memgraph_pipelines.resources.vault import VaultResource

    doc = _event("m-job", "llm.latency.measured",
                 {"invocation_id": "i", "metric_type": "latency", "value": 3})  # fmt: skip
    _produce(kafka_brokers, topic, [_dead(topic, 5, doc, FailureReason.INVALID_VALUE,
                                          sensitive=False)], kek)  # fmt: skip
    resources = {
        "kafka": KafkaResource(brokers=kafka_brokers),
        "neo4j": Neo4jResource(uri=settings.neo4j_uri, password=settings.neo4j_password or ""),
        "vault": VaultResource(
            vault_local_uri=str(tmp_path / "vault"),
            local_kek_file=str(tmp_path / "keys" / "kek.key"),
            text_hmac_secret=HMAC_SECRET.decode(),
        ),
        "ingestion": IngestionResource(observatory_topic=topic),
    }
    run_config = {"ops": {"replay_dead_letters_op": {"config": {"reason": "invalid_value"}}}}
    result = dlq_replay_job.execute_in_process(resources=resources, run_config=run_config)
    assert result.success
    summary = result.output_for_node("replay_dead_letters_op")
    assert (summary["read"], summary["loaded"]) == (1, 1)
    assert _node(empty_graph, settings.neo4j_database, "PerformanceMetric", "m-job") is not None
