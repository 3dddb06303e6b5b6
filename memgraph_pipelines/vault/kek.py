"""Key-encryption keys (SPEC §4.2): a local key file or AWS KMS. Plain module.

A KEK only ever wraps and unwraps data keys. The wrap is bound to a context
(``content_id`` and ``classification``) so a wrapped key moved to another record fails to
unwrap. Key bytes never appear in messages or reprs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from memgraph_pipelines.settings import Settings

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
#: First byte of a locally wrapped key: lets a later format coexist with this one.
_LOCAL_WRAP_VERSION = b"\x01"
HMAC_SECRET_FILE_NAME = "text-hmac.key"


class DecryptionError(Exception):
    """A ciphertext or wrapped key failed authentication (altered, or bound to another record).

    Messages name the record, never its content or any key."""


class KekUnavailableError(Exception):
    """The KEK could not be reached or used (configuration, network, permissions)."""


@runtime_checkable
class KeyEncryptionKey(Protocol):
    @property
    def kek_id(self) -> str: ...

    def wrap(self, dek: bytes, context: dict[str, str]) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes: ...


def _context_aad(context: Mapping[str, str]) -> bytes:
    # Canonical, unambiguous encoding: sorted keys, JSON-escaped values.
    return orjson.dumps(dict(context), option=orjson.OPT_SORT_KEYS)


def _ensure_private_dir(directory: Path) -> None:
    if directory.is_dir():
        return
    directory.mkdir(parents=True, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask


def _read_or_create_secret_file(path: Path, size: int) -> bytes:
    """Bytes of a secret file, creating it (mode 0600) with random bytes when missing.

    Creation writes a temporary file and hard-links it into place, so concurrent first runs
    agree on one secret and nobody reads a half-written file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        _ensure_private_dir(path.parent)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(size))
                handle.flush()
                os.fsync(handle.fileno())
            # If another process created it first, use theirs.
            with contextlib.suppress(FileExistsError):
                os.link(tmp_name, path)
        finally:
            os.unlink(tmp_name)
        data = path.read_bytes()
    if len(data) != size:
        raise KekUnavailableError(f"key file {path} holds {len(data)} bytes, expected {size}")
    if path.stat().st_mode & 0o077:
        log.warning("key file %s is accessible by group or others; expected mode 0600", path)
    return data


class LocalFileKek:
    """AES-256-GCM KEK whose 32 bytes live in a local file (mode 0600), created when missing.

    Wrapped form: version byte | 12-byte nonce | encrypted DEK with its 16-byte tag; the
    context is the additional authenticated data."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        key = _read_or_create_secret_file(self.path, KEY_BYTES)
        self._aead = AESGCM(key)
        self._kek_id = "local:" + hashlib.sha256(key).hexdigest()[:16]

    @property
    def kek_id(self) -> str:
        return self._kek_id

    def wrap(self, dek: bytes, context: dict[str, str]) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return _LOCAL_WRAP_VERSION + nonce + self._aead.encrypt(nonce, dek, _context_aad(context))

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        if len(wrapped) < 1 + NONCE_BYTES + 16 or wrapped[:1] != _LOCAL_WRAP_VERSION:
            raise DecryptionError("wrapped data key has an unknown format")
        nonce = wrapped[1 : 1 + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, wrapped[1 + NONCE_BYTES :], _context_aad(context))
        except InvalidTag:
            raise DecryptionError(
                f"data key did not unwrap under {self._kek_id} for this record"
            ) from None

    def __repr__(self) -> str:
        return f"LocalFileKek(path={str(self.path)!r}, kek_id={self._kek_id!r})"


@cache
def _kms_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3

    # Clients are thread-safe; one per (region, endpoint) for the whole process.
    return boto3.client("kms", region_name=region, endpoint_url=endpoint_url)


#: KMS error codes that mean "this ciphertext does not belong here", not "KMS is unavailable".
_KMS_AUTH_FAILURES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KmsKek:
    """AWS KMS KEK: Encrypt/Decrypt of each DEK with the context as EncryptionContext."""

    #: Hint for batch encryption: KMS calls are network round trips, worth running in parallel.
    parallel_wraps = 16

    def __init__(self, key_id: str, region: str | None, endpoint_url: str | None = None) -> None:
        self.key_id = key_id
        self.region = region
        self.endpoint_url = endpoint_url

    @property
    def _client(self) -> Any:
        return _kms_client(self.region, self.endpoint_url)

    @cached_property
    def kek_id(self) -> str:
        # The ARN, also when configured by alias or bare key id.
        return str(self._client.describe_key(KeyId=self.key_id)["KeyMetadata"]["Arn"])

    def wrap(self, dek: bytes, context: dict[str, str]) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.encrypt(
                KeyId=self.key_id, Plaintext=dek, EncryptionContext=dict(context)
            )
        except (ClientError, BotoCoreError) as exc:
            raise KekUnavailableError(f"KMS Encrypt with {self.key_id} failed: {exc}") from None
        return bytes(response["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.decrypt(
                KeyId=self.key_id, CiphertextBlob=wrapped, EncryptionContext=dict(context)
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _KMS_AUTH_FAILURES:
                raise DecryptionError(
                    f"KMS refused the data key for this record ({code})"
                ) from None
            raise KekUnavailableError(f"KMS Decrypt with {self.key_id} failed: {code}") from None
        except BotoCoreError as exc:
            raise KekUnavailableError(f"KMS Decrypt with {self.key_id} failed: {exc}") from None
        return bytes(response["Plaintext"])

    def __repr__(self) -> str:
        return f"KmsKek(key_id={self.key_id!r}, region={self.region!r})"


def make_kek(settings: Settings) -> KeyEncryptionKey:
    """KMS when ``KMS_KEY_ID`` is set, else the local key file (``LOCAL_KEK_FILE``)."""
    if settings.kms_key_id:
        return KmsKek(settings.kms_key_id, settings.aws_region, settings.aws_endpoint_url)
    return LocalFileKek(settings.local_kek_file)


def hmac_secret_path(settings: Settings) -> Path:
    return Path(settings.local_kek_file).parent / HMAC_SECRET_FILE_NAME


def load_hmac_secret(settings: Settings) -> bytes:
    """``TEXT_HMAC_SECRET`` (UTF-8) when set, else a generated 32-byte secret kept in a 0600
    file beside the local KEK file. It must stay stable: text_hmac values compare across runs."""
    if settings.text_hmac_secret:
        return settings.text_hmac_secret.encode("utf-8")
    return _read_or_create_secret_file(hmac_secret_path(settings), KEY_BYTES)
