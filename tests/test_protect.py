from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from memgraph_pipelines.telemetry.schemas import PROMPTS, RESPONSES, TABLE_SCHEMAS, empty_tables
from memgraph_pipelines.vault.envelope import decrypt_text, text_hmac
from memgraph_pipelines.vault.kek import LocalFileKek
from memgraph_pipelines.vault.protect import protect_tables
from memgraph_pipelines.vault.store import LocalVaultStore

SECRET = b"h" * 32


def _prompt(
    event_id: str, text: str | None, classification: str, sensitive: bool
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "ts_ms": 1_700_000_000_000,
        "template": "t1",
        "session_id": "s-1",
        "user_id": "u-1",
        "application_id": "app",
        "purpose": None,
        "model_id": "m-1",
        "provider": "p",
        "token_count": 3,
        "classification": classification,
        "text": text,
        "text_length": None if text is None else len(text),
        "content_ref": None,
        "text_hmac": None,
        "has_sensitive_content": sensitive,
        "source_partition": 0,
        "source_offset": 7,
    }


def _response(
    event_id: str, text: str | None, classification: str, sensitive: bool
) -> dict[str, Any]:
    row = {name: None for name in RESPONSES.names}
    row.update(
        event_id=event_id,
        ts_ms=1_700_000_000_001,
        prompt_event_id="p-secret",
        classification=classification,
        text=text,
        text_length=None if text is None else len(text),
        has_sensitive_content=sensitive,
        source_partition=1,
        source_offset=9,
    )
    return row


@pytest.fixture
def kek(tmp_path: Path) -> LocalFileKek:
    return LocalFileKek(tmp_path / "keys" / "kek.key")


@pytest.fixture
def store(tmp_path: Path) -> LocalVaultStore:
    return LocalVaultStore(str(tmp_path / "vault"))


def _string_values(table: pa.Table) -> list[str]:
    values: list[str] = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            values.extend(v for v in column.to_pylist() if v is not None)
    return values


def test_sensitive_text_leaves_the_tables_for_the_vault(
    kek: LocalFileKek, store: LocalVaultStore, tmp_path: Path
) -> None:
    marker = f"SECRET-{uuid.uuid4().hex}"
    tables = empty_tables()
    tables["prompts"] = pa.Table.from_pylist(
        [
            _prompt("p-secret", f"my card is {marker}", "pii", True),
            _prompt("p-public", "hello world", "internal", False),
            # Classified restricted but not flagged: still protected.
            _prompt("p-restricted", f"{marker} again", "restricted", False),
        ],
        schema=PROMPTS,
    )
    tables["responses"] = pa.Table.from_pylist(
        [
            _response("r-secret", f"echo {marker}", "confidential", True),
            _response("r-empty", None, "pii", True),
            _response("r-public", "fine", "public", False),
        ],
        schema=RESPONSES,
    )
    result = protect_tables(tables, kek=kek, store=store, hmac_secret=SECRET)

    assert result.vaulted == 3
    assert result.bytes_vaulted == sum(
        len(t.encode()) for t in (f"my card is {marker}", f"{marker} again", f"echo {marker}")
    )
    for name, table in result.tables.items():
        assert table.schema.equals(TABLE_SCHEMAS[name]), name
        assert not any(marker in v for v in _string_values(table)), name
        staged = pa.BufferOutputStream()
        pq.write_table(table, staged, compression="none")
        assert marker.encode() not in staged.getvalue().to_pybytes(), name
    for path in (tmp_path / "vault").rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes()

    prompts = {row["event_id"]: row for row in result.tables["prompts"].to_pylist()}
    assert prompts["p-public"]["text"] == "hello world"
    assert prompts["p-public"]["content_ref"] is None
    assert prompts["p-public"]["text_hmac"] == text_hmac(SECRET, "hello world")
    secret_row = prompts["p-secret"]
    assert secret_row["text"] is None
    assert secret_row["content_ref"] == "vault://pii/prompts/p-secret"
    assert secret_row["text_hmac"] == text_hmac(SECRET, f"my card is {marker}")
    assert secret_row["text_length"] == len(f"my card is {marker}")
    assert prompts["p-restricted"]["has_sensitive_content"] is True
    assert prompts["p-restricted"]["content_ref"] == "vault://restricted/prompts/p-restricted"

    responses = {row["event_id"]: row for row in result.tables["responses"].to_pylist()}
    assert responses["r-secret"]["content_ref"] == "vault://confidential/responses/r-secret"
    assert responses["r-empty"]["content_ref"] is None and responses["r-empty"]["text_hmac"] is None
    assert responses["r-public"]["text"] == "fine"

    assert decrypt_text(store.get("prompts/p-secret"), kek) == f"my card is {marker}".encode()
    assert decrypt_text(store.get("responses/r-secret"), kek) == f"echo {marker}".encode()
    assert store.get_metadata("prompts/p-secret")["user_id"] == "u-1"
    for name in ("invocations", "token_updates", "metrics", "errors"):
        assert result.tables[name] is tables[name]


def test_protecting_again_gives_the_same_tables(kek: LocalFileKek, store: LocalVaultStore) -> None:
    tables = {
        "prompts": pa.Table.from_pylist(
            [_prompt("a", "secret a", "pii", True), _prompt("b", "plain b", "internal", False)],
            schema=PROMPTS,
        )
    }
    first = protect_tables(tables, kek=kek, store=store, hmac_secret=SECRET)
    second = protect_tables(tables, kek=kek, store=store, hmac_secret=SECRET)
    assert first.tables["prompts"].equals(second.tables["prompts"])
    assert first.tables["prompts"].column("text").to_pylist() == [None, "plain b"]
    assert "responses" not in first.tables


def test_batch_of_50000_with_3000_sensitive_texts(
    kek: LocalFileKek, store: LocalVaultStore
) -> None:
    n, every = 50_000, 16  # 3,125 sensitive rows
    rows = [
        _prompt(
            f"e{i}",
            f"text number {i} " * 20,
            "pii" if i % every == 0 else "internal",
            i % every == 0,
        )
        for i in range(n)
    ]
    table = pa.Table.from_pylist(rows, schema=PROMPTS)
    started = time.perf_counter()
    result = protect_tables({"prompts": table}, kek=kek, store=store, hmac_secret=SECRET)
    elapsed = time.perf_counter() - started
    print(f"protected {n} rows, {result.vaulted} vaulted, in {elapsed:.3f}s")
    assert result.vaulted == len(range(0, n, every))
    out = result.tables["prompts"]
    assert out.column("text").null_count == result.vaulted
    assert out.column("content_ref").null_count == n - result.vaulted
    assert out.column("text_hmac").null_count == 0
    assert elapsed < 5.0  # generous: typically well under a second on a laptop
