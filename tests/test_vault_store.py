from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
import stat
import uuid
from pathlib import Path

import boto3
import orjson
import pytest

from memgraph_pipelines.settings import Settings
from memgraph_pipelines.vault import sqlite_objects
from memgraph_pipelines.vault import store as vault_store
from memgraph_pipelines.vault.envelope import decrypt_text, encrypt_text
from memgraph_pipelines.vault.kek import LocalFileKek
from memgraph_pipelines.vault.store import (
    LocalVaultStore,
    VaultRecordNotFound,
    VaultStore,
    content_id_for,
    content_ref,
    make_vault_store,
    object_key,
)


@pytest.fixture
def kek(tmp_path: Path) -> LocalFileKek:
    return LocalFileKek(tmp_path / "keys" / "kek.key")


@pytest.fixture
def s3_store(aws_env: str) -> tuple[LocalVaultStore, str]:
    bucket = f"vault-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1", endpoint_url=aws_env).create_bucket(Bucket=bucket)
    return LocalVaultStore(f"s3://{bucket}/records"), bucket


def _check_put_get_delete(store: VaultStore, kek: LocalFileKek) -> None:
    marker = f"marker-{uuid.uuid4().hex}".encode()
    enc = encrypt_text(marker, content_id="prompts/evt-1", classification="pii", kek=kek)
    ref = store.put(enc, {"kind": "prompts"})
    assert ref == content_ref("pii", "prompts", "evt-1") == "vault://pii/prompts/evt-1"
    assert decrypt_text(store.get("prompts/evt-1"), kek) == marker

    # Idempotent: a second put (a replay, fresh DEK) keeps the stored record and reference.
    again = encrypt_text(marker, content_id="prompts/evt-1", classification="pii", kek=kek)
    assert store.put(again, {"kind": "prompts"}) == ref
    assert store.get("prompts/evt-1") == enc

    assert store.delete("prompts/evt-1") is True
    assert store.delete("prompts/evt-1") is False
    with pytest.raises(VaultRecordNotFound):
        store.get("prompts/evt-1")


def _check_put_many(store: VaultStore, kek: LocalFileKek) -> None:
    items = [
        (
            encrypt_text(
                f"t{i}".encode(), content_id=f"responses/r{i}", classification="pii", kek=kek
            ),
            {"kind": "responses", "event_id": f"r{i}"},
        )
        for i in range(25)
    ]
    refs = store.put_many(items)
    assert refs == [f"vault://pii/responses/r{i}" for i in range(25)]
    assert [decrypt_text(store.get(f"responses/r{i}"), kek) for i in range(25)] == [
        f"t{i}".encode() for i in range(25)
    ]


def test_directory_store_put_get_delete(tmp_path: Path, kek: LocalFileKek) -> None:
    _check_put_get_delete(LocalVaultStore(str(tmp_path / "vault")), kek)


def test_directory_store_put_many(tmp_path: Path, kek: LocalFileKek) -> None:
    _check_put_many(LocalVaultStore(str(tmp_path / "vault")), kek)


def test_directory_store_files_are_private_and_hold_no_plaintext(
    tmp_path: Path, kek: LocalFileKek
) -> None:
    root = tmp_path / "vault"
    store = LocalVaultStore(str(root))
    marker = f"marker-{uuid.uuid4().hex}"
    enc = encrypt_text(marker.encode(), content_id="prompts/e", classification="pii", kek=kek)
    store.put(enc, {"kind": "prompts", "event_id": "e"})
    files = sorted(p.name for p in root.iterdir())
    # The database and its write-ahead log (and index) while a connection is open.
    assert files[0] == sqlite_objects.DATABASE_NAME and len(files) in (1, 3)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for path in root.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        assert marker.encode() not in path.read_bytes()
    assert store.get_metadata("prompts/e") == {"kind": "prompts", "event_id": "e"}


def test_reclassified_record_is_replaced(tmp_path: Path, kek: LocalFileKek) -> None:
    store = LocalVaultStore(str(tmp_path / "vault"))
    store.put(
        encrypt_text(b"t", content_id="prompts/e", classification="confidential", kek=kek), {}
    )
    upgraded = encrypt_text(b"t", content_id="prompts/e", classification="pii", kek=kek)
    assert store.put(upgraded, {}) == "vault://pii/prompts/e"
    assert store.get("prompts/e").classification == "pii"


@pytest.mark.parametrize(
    "event_id", ["../../escape", "..", "a/../../b", "with space", "x" * 128, "ü" * 120]
)
def test_content_ids_map_to_safe_keys(tmp_path: Path, kek: LocalFileKek, event_id: str) -> None:
    store = LocalVaultStore(str(tmp_path / "vault"))
    content_id = content_id_for("prompts", event_id)
    key = object_key(content_id)
    # Safe as an S3 key and as a relative path: no part climbs up, none is over-long.
    assert all(part not in ("", ".", "..") and len(part) <= 255 for part in key.split("/"))
    assert (tmp_path / key).resolve().is_relative_to(tmp_path.resolve())
    store.put(encrypt_text(b"v", content_id=content_id, classification="pii", kek=kek), {})
    assert store.get(content_id).content_id == content_id


def test_distinct_content_ids_get_distinct_keys() -> None:
    ids = ["prompts/a.b", "prompts/a%2Eb", "prompts/a b", "prompts/a+b", "prompts/A"]
    assert len({object_key(i) for i in ids}) == len(ids)


def test_s3_store_put_get_delete(s3_store: tuple[LocalVaultStore, str], kek: LocalFileKek) -> None:
    store, _ = s3_store
    _check_put_get_delete(store, kek)


def test_s3_store_put_many_and_idempotent_objects(
    s3_store: tuple[LocalVaultStore, str], kek: LocalFileKek, aws_env: str
) -> None:
    store, bucket = s3_store
    _check_put_many(store, kek)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws_env)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="records/")["Contents"]
    assert len(listed) == 25
    etags = {o["Key"]: o["ETag"] for o in listed}
    _check_put_many(store, kek)  # replay of the same batch
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="records/")["Contents"]
    assert {o["Key"]: o["ETag"] for o in listed} == etags


def test_content_ref_and_kind() -> None:
    assert content_ref("restricted", "responses", "r-1") == "vault://restricted/responses/r-1"
    with pytest.raises(ValueError):
        content_id_for("errors", "e")


def test_make_vault_store(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        Settings.from_env(), vault_local_uri=str(tmp_path / "v"), vault_api_url=None
    )
    assert isinstance(make_vault_store(settings), LocalVaultStore)
    with pytest.raises(NotImplementedError):
        make_vault_store(dataclasses.replace(settings, vault_api_url="https://vault.example"))


def _records(kek: LocalFileKek, count: int) -> list:
    return [
        (encrypt_text(b"t", content_id=f"prompts/p{i}", classification="pii", kek=kek), {})
        for i in range(count)
    ]


def test_records_are_durable_for_a_new_store(tmp_path: Path, kek: LocalFileKek) -> None:
    root = tmp_path / "vault"
    LocalVaultStore(str(root)).put_many(_records(kek, 40))
    store = LocalVaultStore(str(root))  # as another process would open it
    assert all(store.get(f"prompts/p{i}").classification == "pii" for i in range(40))
    with sqlite3.connect(root / sqlite_objects.DATABASE_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_failed_put_stores_none_of_its_records(
    tmp_path: Path, kek: LocalFileKek, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalVaultStore(str(tmp_path / "vault"))
    store.put_many(_records(kek, 2))
    records = _records(kek, 6)
    real_dumps = orjson.dumps

    def dumps_failing_for_p4(value: object, **options: object) -> object:
        # A record SQLite cannot bind: the insert fails part-way through the put.
        if isinstance(value, dict) and value.get("content_id") == "prompts/p4":
            return object()
        return real_dumps(value, **options)

    monkeypatch.setattr(vault_store.orjson, "dumps", dumps_failing_for_p4)
    with pytest.raises(sqlite3.Error):
        store.put_many(records)
    monkeypatch.undo()
    assert [store._objects.classification_of(f"prompts/p{i}.json") for i in range(6)] == [
        "pii",
        "pii",
        None,
        None,
        None,
        None,
    ]
    store.put_many(_records(kek, 6))  # the store is usable after the rollback
    assert store.get("prompts/p5").classification == "pii"


def _put_range(root: str, start: int, count: int) -> None:
    kek = LocalFileKek(Path(root).parent / "keys" / "kek.key")
    store = LocalVaultStore(root)
    for i in range(start, start + count, 10):
        store.put_many(
            [
                (encrypt_text(b"t", content_id=f"prompts/q{j}", classification="pii", kek=kek), {})
                for j in range(i, i + 10)
            ]
        )


def test_processes_writing_at_once_lose_no_record(tmp_path: Path, kek: LocalFileKek) -> None:
    root = str(tmp_path / "vault")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_put_range, args=(root, n * 200, 200)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    store = LocalVaultStore(root)
    assert all(store.get(f"prompts/q{j}").content_id == f"prompts/q{j}" for j in range(600))


def test_one_content_id_twice_in_a_put(tmp_path: Path, kek: LocalFileKek) -> None:
    store = LocalVaultStore(str(tmp_path / "vault"))
    twice = _records(kek, 1) * 2
    assert store.put_many(twice) == ["vault://pii/prompts/p0"] * 2
    assert store.get("prompts/p0").classification == "pii"
