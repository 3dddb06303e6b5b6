"""Sensitive text -> vault reference, before anything is staged (SPEC §4.1). Plain module.

For the ``prompts`` and ``responses`` tables: every non-null text gets its ``text_hmac``; a
sensitive row's text is envelope-encrypted, stored in the vault, replaced by ``content_ref``
and nulled. Output tables keep exactly the schemas of ``telemetry.schemas``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from memgraph_pipelines.telemetry.schemas import TABLE_SCHEMAS, TEXT_TABLES
from memgraph_pipelines.vault.envelope import encrypt_many, text_hmacs
from memgraph_pipelines.vault.kek import KeyEncryptionKey
from memgraph_pipelines.vault.store import VaultStore, content_id_for

#: Levels whose text never stays on a node (SPEC §4.1).
SENSITIVE_CLASSIFICATIONS = ("confidential", "restricted", "pii")

#: Row columns copied into the vault record's metadata when present and non-null; they let
#: retention and erasure (SPEC §4.5) find records without decrypting anything.
_METADATA_COLUMNS = ("event_id", "ts_ms", "session_id", "user_id", "prompt_event_id")


@dataclass(frozen=True)
class ProtectResult:
    tables: dict[str, pa.Table]
    #: Texts encrypted and stored in the vault in this call.
    vaulted: int
    #: Sum of their UTF-8 sizes (equal to the ciphertext sizes under GCM).
    bytes_vaulted: int


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    table = table.select(schema.names)
    return table if table.schema.equals(schema) else table.cast(schema)


def _sensitive_mask(table: pa.Table) -> pa.ChunkedArray:
    # A sensitive level protects the text even if the flag was not raised: defence in depth.
    flagged = pc.fill_null(table["has_sensitive_content"], False)
    by_level = pc.fill_null(
        pc.is_in(table["classification"], value_set=pa.array(SENSITIVE_CLASSIFICATIONS)), False
    )
    return pc.or_(flagged, by_level)


def _row_metadata(kind: str, rows: list[dict[str, object]]) -> list[dict[str, str]]:
    return [
        {"kind": kind} | {name: str(value) for name, value in row.items() if value is not None}
        for row in rows
    ]


def _protect_text_table(
    kind: str,
    table: pa.Table,
    *,
    kek: KeyEncryptionKey,
    store: VaultStore,
    hmac_secret: bytes,
) -> tuple[pa.Table, int, int]:
    schema = TABLE_SCHEMAS[kind]
    table = _conform(table, schema)
    text = table["text"]
    sensitive = _sensitive_mask(table)
    to_vault = pc.and_(sensitive, pc.is_valid(text))
    indices = np.flatnonzero(to_vault.to_numpy(zero_copy_only=False))

    texts = text.to_pylist()
    hmacs = pa.array(text_hmacs(hmac_secret, texts), type=pa.string())

    vaulted_bytes = 0
    content_refs = table["content_ref"]
    if len(indices):
        picked = table.take(pa.array(indices))
        event_ids = picked["event_id"].to_pylist()
        levels = picked["classification"].to_pylist()
        plaintexts = [texts[i].encode("utf-8") for i in indices]
        vaulted_bytes = sum(len(p) for p in plaintexts)
        encrypted = encrypt_many(
            [
                (plain, content_id_for(kind, event_id), level)
                for plain, event_id, level in zip(plaintexts, event_ids, levels, strict=True)
            ],
            kek,
        )
        del plaintexts
        meta_names = [name for name in _METADATA_COLUMNS if name in schema.names]
        metadata = _row_metadata(kind, picked.select(meta_names).to_pylist())
        refs = store.put_many(list(zip(encrypted, metadata, strict=True)))
        ref_values = content_refs.to_pylist()
        for i, ref in zip(indices, refs, strict=True):
            ref_values[i] = ref
        content_refs = pa.array(ref_values, type=pa.string())

    protected_text = pc.if_else(to_vault, pa.scalar(None, pa.string()), text)
    for name, column in (
        ("text", protected_text),
        ("content_ref", content_refs),
        ("text_hmac", hmacs),
        ("has_sensitive_content", sensitive),
    ):
        index = schema.get_field_index(name)
        table = table.set_column(index, schema.field(index), column)
    return _conform(table, schema), len(indices), vaulted_bytes


def protect_tables(
    tables: dict[str, pa.Table],
    *,
    kek: KeyEncryptionKey,
    store: VaultStore,
    hmac_secret: bytes,
) -> ProtectResult:
    """Protected copies of the tables; tables other than prompts/responses pass unchanged."""
    out = dict(tables)
    vaulted = 0
    bytes_vaulted = 0
    for kind in TEXT_TABLES:
        if kind not in tables:
            continue
        out[kind], count, size = _protect_text_table(
            kind, tables[kind], kek=kek, store=store, hmac_secret=hmac_secret
        )
        vaulted += count
        bytes_vaulted += size
    return ProtectResult(tables=out, vaulted=vaulted, bytes_vaulted=bytes_vaulted)
