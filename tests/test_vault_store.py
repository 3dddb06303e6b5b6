from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import stat
import uuid
from pathlib import Path

import boto3
import pytest

from memgraph_pipelines.settings import Settings
from memgraph_pipelines.vault import directory
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
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    assert marker.encode() not in files[0].read_bytes()
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
def test_content_ids_map_inside_the_root(tmp_path: Path, kek: LocalFileKek, event_id: str) -> None:
    root = tmp_path / "vault"
    store = LocalVaultStore(str(root))
    content_id = content_id_for("prompts", event_id)
    key = object_key(content_id)
    assert all(len(part) <= 255 for part in key.split("/"))
    assert (root / key).resolve().is_relative_to(root.resolve())
    store.put(encrypt_text(b"v", content_id=content_id, classification="pii", kek=kek), {})
    assert store.get(content_id).content_id == content_id
    assert all(p.resolve().is_relative_to(root.resolve()) for p in tmp_path.rglob("*.json"))


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


def test_directory_store_group_commit_leaves_only_complete_records(
    tmp_path: Path, kek: LocalFileKek
) -> None:
    root = tmp_path / "vault"
    LocalVaultStore(str(root)).put_many(_records(kek, 40))
    names = sorted(p.name for p in root.rglob("*") if p.is_file())
    assert names == sorted(f"p{i}.json" for i in range(40))  # no temporary file left
    store = LocalVaultStore(str(root))
    assert all(store.get(f"prompts/p{i}").classification == "pii" for i in range(40))


def test_failed_flush_puts_no_record_in_place(
    tmp_path: Path, kek: LocalFileKek, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_syncfs(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(directory, "_syncfs", lambda: failing_syncfs)
    root = tmp_path / "vault"
    with pytest.raises(OSError, match="syncfs failed"):
        LocalVaultStore(str(root)).put_many(_records(kek, 5))
    # A record's name never points at content the flush did not make durable.
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_group_commit_without_syncfs_fsyncs_each_record(
    tmp_path: Path, kek: LocalFileKek, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(directory, "_syncfs", lambda: None)
    monkeypatch.setattr(directory.os, "fsync", fsync)
    root = tmp_path / "vault"
    LocalVaultStore(str(root)).put_many(_records(kek, 3))
    assert sum(".tmp-" in path for path in synced) == 3  # each record before its rename
    assert str(root / "prompts") in synced  # then its directory
    assert len([p for p in root.rglob("*.json")]) == 3


def test_failed_write_leaves_no_temporary_file(
    tmp_path: Path, kek: LocalFileKek, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_temporary = directory.DirectoryObjects._write_temporary

    def failing_for_p2(self: directory.DirectoryObjects, write: directory.Write) -> tuple:
        if write[0].endswith("/p2.json"):
            raise OSError(errno.ENOSPC, "no space left")
        return write_temporary(self, write)

    monkeypatch.setattr(directory.DirectoryObjects, "_write_temporary", failing_for_p2)
    root = tmp_path / "vault"
    with pytest.raises(OSError, match="no space left"):
        LocalVaultStore(str(root)).put_many(_records(kek, 6))
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_one_content_id_twice_in_a_put(tmp_path: Path, kek: LocalFileKek) -> None:
    store = LocalVaultStore(str(tmp_path / "vault"), max_workers=1)
    twice = _records(kek, 1) * 2
    assert store.put_many(twice) == ["vault://pii/prompts/p0"] * 2
    assert store.get("prompts/p0").classification == "pii"
