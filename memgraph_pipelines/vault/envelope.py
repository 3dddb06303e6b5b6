"""Envelope encryption of one text (SPEC §4.2), its vault record form (§4.3), text HMACs.

Plain module. Per text: a random 32-byte data key (DEK) and 12-byte IV, AES-256-GCM with
additional authenticated data ``content_id|classification``; the DEK is wrapped by a KEK
under the context ``{content_id, classification}``. Moving a ciphertext to another record
therefore fails twice: at the unwrap and at the GCM tag.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from memgraph_pipelines.vault.kek import DecryptionError, KeyEncryptionKey

__all__ = [
    "ALGORITHM",
    "DecryptionError",
    "EncryptedText",
    "decrypt_text",
    "encrypt_many",
    "encrypt_text",
    "from_record",
    "text_hmac",
    "text_hmacs",
    "to_record",
]

ALGORITHM = "AES-256-GCM"
DEK_BYTES = 32
IV_BYTES = 12
TAG_BYTES = 16


@dataclass(frozen=True, slots=True)
class EncryptedText:
    content_id: str
    classification: str
    ciphertext: bytes = field(repr=False)
    wrapped_dek: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    auth_tag: bytes = field(repr=False)
    kek_id: str
    algorithm: str = ALGORITHM

    @property
    def aad(self) -> bytes:
        return aad_for(self.content_id, self.classification)

    @property
    def context(self) -> dict[str, str]:
        return {"content_id": self.content_id, "classification": self.classification}


def aad_for(content_id: str, classification: str) -> bytes:
    return f"{content_id}|{classification}".encode()


def encrypt_text(
    plaintext: bytes, *, content_id: str, classification: str, kek: KeyEncryptionKey
) -> EncryptedText:
    dek = os.urandom(DEK_BYTES)
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(dek).encrypt(iv, plaintext, aad_for(content_id, classification))
    wrapped = kek.wrap(dek, {"content_id": content_id, "classification": classification})
    return EncryptedText(
        content_id=content_id,
        classification=classification,
        ciphertext=sealed[:-TAG_BYTES],
        wrapped_dek=wrapped,
        iv=iv,
        auth_tag=sealed[-TAG_BYTES:],
        kek_id=kek.kek_id,
    )


def encrypt_many(
    items: Sequence[tuple[bytes, str, str]], kek: KeyEncryptionKey
) -> list[EncryptedText]:
    """Encrypt ``(plaintext, content_id, classification)`` items, in order.

    A KEK that declares ``parallel_wraps > 1`` (a remote KMS) is called from that many
    threads; a local KEK is faster inline."""
    workers = int(getattr(kek, "parallel_wraps", 1))

    def one(item: tuple[bytes, str, str]) -> EncryptedText:
        return encrypt_text(item[0], content_id=item[1], classification=item[2], kek=kek)

    if workers <= 1 or len(items) <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(one, items))


def decrypt_text(enc: EncryptedText, kek: KeyEncryptionKey) -> bytes:
    """The plaintext, or ``DecryptionError`` when the record was altered or moved."""
    if enc.algorithm != ALGORITHM:
        raise DecryptionError(f"{enc.content_id}: unsupported algorithm {enc.algorithm!r}")
    if enc.kek_id != kek.kek_id:
        raise DecryptionError(
            f"{enc.content_id}: wrapped by {enc.kek_id}, not by the given KEK {kek.kek_id}"
        )
    if len(enc.iv) != IV_BYTES or len(enc.auth_tag) != TAG_BYTES:
        raise DecryptionError(f"{enc.content_id}: malformed IV or authentication tag")
    try:
        dek = kek.unwrap(enc.wrapped_dek, enc.context)
    except DecryptionError:
        raise DecryptionError(
            f"{enc.content_id}: data key does not belong to this record "
            "(altered, or moved from another content id or classification)"
        ) from None
    try:
        return AESGCM(dek).decrypt(enc.iv, enc.ciphertext + enc.auth_tag, enc.aad)
    except (InvalidTag, ValueError):
        raise DecryptionError(
            f"{enc.content_id}: ciphertext failed authentication "
            "(altered, or moved from another content id or classification)"
        ) from None


def text_hmac(secret: bytes, text: str) -> str:
    """Hex HMAC-SHA256 of the UTF-8 text: equal texts match without revealing them."""
    return hmac.digest(secret, text.encode("utf-8"), hashlib.sha256).hex()


def text_hmacs(secret: bytes, texts: Iterable[str | None]) -> list[str | None]:
    digest = hmac.digest
    sha256 = hashlib.sha256
    return [
        None if text is None else digest(secret, text.encode("utf-8"), sha256).hex()
        for text in texts
    ]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(record: Mapping[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(record[name], validate=True)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"vault record field {name!r} is missing or not base64") from None


def to_record(enc: EncryptedText, metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The SPEC §4.3 store body (binary fields base64)."""
    return {
        "content_id": enc.content_id,
        "encrypted_content": _b64(enc.ciphertext),
        "encrypted_dek": _b64(enc.wrapped_dek),
        "iv": _b64(enc.iv),
        "auth_tag": _b64(enc.auth_tag),
        "kek_id": enc.kek_id,
        "classification": enc.classification,
        "metadata": dict(metadata or {}),
        "encryption_algorithm": enc.algorithm,
    }


def from_record(record: Mapping[str, Any]) -> EncryptedText:
    try:
        content_id = str(record["content_id"])
        classification = str(record["classification"])
        kek_id = str(record["kek_id"])
    except KeyError as exc:
        raise ValueError(f"vault record field {exc.args[0]!r} is missing") from None
    return EncryptedText(
        content_id=content_id,
        classification=classification,
        ciphertext=_unb64(record, "encrypted_content"),
        wrapped_dek=_unb64(record, "encrypted_dek"),
        iv=_unb64(record, "iv"),
        auth_tag=_unb64(record, "auth_tag"),
        kek_id=kek_id,
        algorithm=str(record.get("encryption_algorithm", ALGORITHM)),
    )
