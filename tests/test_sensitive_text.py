"""Unique markers in sensitive texts reach only the vault, encrypted: not Neo4j, the staged
Parquet, the DLQ, nor anything Dagster writes (event log, compute logs)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from memgraph_pipelines.inprocess import catch_up
from memgraph_pipelines.vault.envelope import DecryptionError, decrypt_text
from memgraph_pipelines.vault.kek import make_kek
from memgraph_pipelines.vault.store import make_vault_store
from tests.ingestion_support import encode, event, pipeline_settings, produce, read_all

pytestmark = pytest.mark.services


def _prompt(text: str, *, classification: str | None = None, event_id: str | None = None):
    payload = {
        "prompt": {"text": text},
        "session": {"id": "sess-secret", "user_id": "user-secret"},
        "model": {"id": "gpt-4o", "provider": "openai"},
    }
    if classification:
        payload["classification"] = classification
    return event("llm.prompt.submitted", payload, event_id=event_id or str(uuid.uuid4()))


def _files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_markers_reach_only_the_vault_encrypted(
    fresh_topic, tmp_path, empty_graph, settings, kafka_brokers, neo4j_driver
):
    markers = {k: f"MARK{uuid.uuid4().hex}" for k in ("restricted", "pii", "response", "bad")}
    restricted_id = str(uuid.uuid4())
    records = [
        _prompt(
            f"board memo {markers['restricted']}",
            classification="restricted",
            event_id=restricted_id,
        ),
        _prompt(f"mail me at jane.doe@example.com {markers['pii']}"),
        event(
            "llm.response.generated",
            {
                "prompt_event_id": restricted_id,
                "response": {"text": f"answer {markers['response']}", "finish_reason": "stop"},
                "classification": "confidential",
            },
        ),
        _prompt("a public question", classification="public"),
    ]
    values = encode(records)
    # dead letters: unparseable, and a sensitive record that fails decoding
    values.append(b'{"event_id": "x", "payload": "' + markers["bad"].encode() + b'"')
    bad = _prompt(f"{markers['bad']}", classification="restricted")
    bad["payload"]["session"] = {}
    values.append(encode([bad])[0])
    topic = fresh_topic("secret", partitions=1)
    s = pipeline_settings(settings, topic, tmp_path)
    produce(kafka_brokers, topic, values)

    totals = catch_up(s)
    assert totals.failed == [] and totals.loaded == 4
    assert sum(totals.dead_lettered.values()) == 2

    needles = [m.encode() for m in markers.values()]
    with neo4j_driver.session(database=s.neo4j_database) as session:
        dump = repr(session.run("MATCH (n) RETURN properties(n) AS p").data())
    assert not any(m in dump for m in markers.values())
    assert "a public question" in dump  # public text stays on the node

    staged = Path(s.staging_uri)
    for parquet in staged.rglob("*.parquet"):
        content = repr(pq.read_table(parquet).to_pylist())
        assert not any(m in content for m in markers.values()), parquet
    for needle in needles:
        assert _files_containing(staged, needle) == []
        assert _files_containing(Path(s.dagster_home), needle) == [], "Dagster storage"

    for message in read_all(kafka_brokers, s.dlq_topic):
        raw = (message.value() or b"") + b"".join(v for _, v in message.headers())
        assert not any(n in raw for n in needles)

    vault_root = Path(s.vault_local_uri)
    for needle in needles:
        assert _files_containing(vault_root, needle) == []
    kek = make_kek(s)
    store = make_vault_store(s)
    content_id = f"prompts/{restricted_id}"
    stored = store.get(content_id)
    assert decrypt_text(stored, kek).decode() == f"board memo {markers['restricted']}"

    tampered = bytearray(stored.ciphertext)
    tampered[0] ^= 1
    with pytest.raises(DecryptionError):
        decrypt_text(dataclasses.replace(stored, ciphertext=bytes(tampered)), kek)
    with pytest.raises(DecryptionError):
        decrypt_text(dataclasses.replace(stored, content_id="prompts/another-record"), kek)
