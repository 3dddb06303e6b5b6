from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import stat
import uuid
from pathlib import Path

import boto3
import pytest

from memgraph_pipelines.settings import Settings
from memgraph_pipelines.vault.envelope import (
    DecryptionError,
    EncryptedText,
    decrypt_text,
    encrypt_many,
    encrypt_text,
    from_record,
    text_hmac,
    text_hmacs,
    to_record,
)
from memgraph_pipelines.vault.kek import (
    KeyEncryptionKey,
    KmsKek,
    LocalFileKek,
    hmac_secret_path,
    load_hmac_secret,
    make_kek,
)


def _marker() -> bytes:
    return f"secret-marker-{uuid.uuid4().hex}".encode()


@pytest.fixture
def local_kek(tmp_path: Path) -> LocalFileKek:
    return LocalFileKek(tmp_path / "keys" / "kek.key")


@pytest.fixture
def kms_kek(aws_env: str) -> KmsKek:
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=aws_env)
    arn = kms.create_key(Description="vault test")["KeyMetadata"]["Arn"]
    return KmsKek(arn, "us-east-1", aws_env)


def _settings(tmp_path: Path, **changes: object) -> Settings:
    base = dataclasses.replace(
        Settings.from_env(),
        local_kek_file=str(tmp_path / "keys" / "kek.key"),
        kms_key_id=None,
        text_hmac_secret=None,
    )
    return dataclasses.replace(base, **changes)


def _flip_bit(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _assert_round_trip_and_binding(kek: KeyEncryptionKey) -> None:
    plaintext = _marker()
    enc = encrypt_text(plaintext, content_id="prompts/e-1", classification="pii", kek=kek)
    assert enc.kek_id == kek.kek_id
    assert enc.algorithm == "AES-256-GCM"
    assert len(enc.iv) == 12 and len(enc.auth_tag) == 16
    assert plaintext not in enc.ciphertext
    assert decrypt_text(enc, kek) == plaintext

    moved = [
        dataclasses.replace(enc, content_id="prompts/e-2"),
        dataclasses.replace(enc, classification="internal"),
    ]
    for record in moved:
        with pytest.raises(DecryptionError) as info:
            decrypt_text(record, kek)
        assert plaintext.decode() not in str(info.value)


def test_local_round_trip_and_records_bound_to_their_content_id(local_kek: LocalFileKek) -> None:
    _assert_round_trip_and_binding(local_kek)


def test_kms_round_trip_and_records_bound_to_their_content_id(kms_kek: KmsKek) -> None:
    assert kms_kek.kek_id.startswith("arn:aws:kms:")
    _assert_round_trip_and_binding(kms_kek)


def test_kms_unwrap_with_wrong_encryption_context_fails(kms_kek: KmsKek) -> None:
    dek = bytes(range(32))
    wrapped = kms_kek.wrap(dek, {"content_id": "prompts/a", "classification": "pii"})
    assert kms_kek.unwrap(wrapped, {"content_id": "prompts/a", "classification": "pii"}) == dek
    with pytest.raises(DecryptionError):
        kms_kek.unwrap(wrapped, {"content_id": "prompts/b", "classification": "pii"})


def test_record_of_another_kek_is_refused(local_kek: LocalFileKek, tmp_path: Path) -> None:
    other = LocalFileKek(tmp_path / "other" / "kek.key")
    assert other.kek_id != local_kek.kek_id
    enc = encrypt_text(b"x", content_id="prompts/e", classification="pii", kek=local_kek)
    with pytest.raises(DecryptionError):
        decrypt_text(enc, other)
    # Even claiming the other KEK's id does not help: the unwrap authenticates.
    with pytest.raises(DecryptionError):
        decrypt_text(dataclasses.replace(enc, kek_id=other.kek_id), other)


@pytest.mark.parametrize("field", ["ciphertext", "auth_tag", "iv", "wrapped_dek"])
def test_one_altered_bit_fails_to_decrypt(local_kek: LocalFileKek, field: str) -> None:
    plaintext = _marker()
    enc = encrypt_text(
        plaintext, content_id="responses/r", classification="restricted", kek=local_kek
    )
    original = getattr(enc, field)
    altered = dataclasses.replace(enc, **{field: _flip_bit(original, len(original) // 2)})
    with pytest.raises(DecryptionError) as info:
        decrypt_text(altered, local_kek)
    assert plaintext.decode() not in str(info.value)


def test_repr_shows_no_key_material(local_kek: LocalFileKek) -> None:
    enc = encrypt_text(_marker(), content_id="prompts/e", classification="pii", kek=local_kek)
    text = repr(enc)
    assert "prompts/e" in text
    for secret in (enc.ciphertext, enc.wrapped_dek, enc.iv, enc.auth_tag):
        assert repr(secret) not in text
        assert secret.hex() not in text
        assert base64.b64encode(secret).decode() not in text
    key_bytes = local_kek.path.read_bytes()
    assert key_bytes.hex() not in repr(local_kek) and repr(key_bytes) not in repr(local_kek)


def test_key_file_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "kek.key"
    kek = LocalFileKek(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_bytes()) == 32
    assert kek.kek_id == "local:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    again = LocalFileKek(path)
    assert again.kek_id == kek.kek_id
    enc = encrypt_text(b"payload", content_id="prompts/x", classification="pii", kek=kek)
    assert decrypt_text(enc, again) == b"payload"


def test_record_form_has_spec_fields_and_round_trips(local_kek: LocalFileKek) -> None:
    plaintext = _marker()
    enc = encrypt_text(plaintext, content_id="prompts/e9", classification="pii", kek=local_kek)
    record = to_record(enc, {"kind": "prompts"})
    assert set(record) == {
        "content_id",
        "encrypted_content",
        "encrypted_dek",
        "iv",
        "auth_tag",
        "kek_id",
        "classification",
        "metadata",
        "encryption_algorithm",
    }
    assert base64.b64decode(record["encrypted_content"]) == enc.ciphertext
    assert record["metadata"] == {"kind": "prompts"}
    restored = from_record(json.loads(json.dumps(record)))
    assert restored == enc
    assert decrypt_text(restored, local_kek) == plaintext


def test_encrypt_many_keeps_order(local_kek: LocalFileKek) -> None:
    items = [(f"text {i}".encode(), f"prompts/e{i}", "pii") for i in range(20)]
    encrypted = encrypt_many(items, local_kek)
    assert [e.content_id for e in encrypted] == [i[1] for i in items]
    assert [decrypt_text(e, local_kek) for e in encrypted] == [i[0] for i in items]
    assert len({e.iv for e in encrypted}) == 20


def test_text_hmac_is_hmac_sha256_under_the_secret() -> None:
    secret = b"k" * 32
    expected = hmac.new(secret, "héllo".encode(), hashlib.sha256).hexdigest()
    assert text_hmac(secret, "héllo") == expected
    assert text_hmac(b"other" * 8, "héllo") != expected
    assert text_hmacs(secret, ["héllo", None]) == [expected, None]


def test_hmac_secret_from_env_or_private_file(tmp_path: Path) -> None:
    assert load_hmac_secret(_settings(tmp_path, text_hmac_secret="s3cr3t")) == b"s3cr3t"
    settings = _settings(tmp_path)
    first = load_hmac_secret(settings)
    path = hmac_secret_path(settings)
    assert path == tmp_path / "keys" / "text-hmac.key"
    assert len(first) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_hmac_secret(settings) == first


def test_make_kek_chooses_kms_when_configured(tmp_path: Path) -> None:
    assert isinstance(make_kek(_settings(tmp_path)), LocalFileKek)
    kms = make_kek(_settings(tmp_path, kms_key_id="alias/x", aws_region="eu-west-1"))
    assert isinstance(kms, KmsKek) and kms.key_id == "alias/x" and kms.region == "eu-west-1"


def test_encrypted_text_is_frozen(local_kek: LocalFileKek) -> None:
    enc: EncryptedText = encrypt_text(b"a", content_id="p/1", classification="pii", kek=local_kek)
    with pytest.raises(dataclasses.FrozenInstanceError):
        enc.content_id = "p/2"  # type: ignore[misc]
