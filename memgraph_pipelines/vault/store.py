"""Where encrypted texts are kept (SPEC §4.3): the vault store interface and the local default.

Plain module. ``LocalVaultStore`` keeps the §4.3 record of each content id as one JSON object,
in a SQLite database under a directory (``vault.sqlite_objects``) or under an
``s3://bucket/prefix``. A store is idempotent per content id: putting
a content id that is already stored with the same classification leaves the stored record as it
is and returns the same reference.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote

import orjson

from memgraph_pipelines.vault.envelope import EncryptedText, from_record, to_record
from memgraph_pipelines.vault.sqlite_objects import SqliteObjects, Write

if TYPE_CHECKING:
    from memgraph_pipelines.settings import Settings

TEXT_KINDS = ("prompts", "responses")
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_\-]{1,200}")
#: ``map``, or a thread pool's: how the S3 store spreads its requests.
Map = Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]]


class VaultRecordNotFound(LookupError):
    def __init__(self, content_id: str) -> None:
        super().__init__(f"no vault record for {content_id!r}")
        self.content_id = content_id


def content_id_for(kind: str, event_id: str) -> str:
    if kind not in TEXT_KINDS:
        raise ValueError(f"kind must be one of {TEXT_KINDS}, not {kind!r}")
    return f"{kind}/{event_id}"


def content_ref(classification: str, kind: str, event_id: str) -> str:
    """The graph's reference to a vaulted text: ``vault://<classification>/<kind>/<event_id>``."""
    return f"vault://{classification}/{content_id_for(kind, event_id)}"


def reference_for(enc: EncryptedText) -> str:
    return f"vault://{enc.classification}/{enc.content_id}"


@runtime_checkable
class VaultStore(Protocol):
    def put(self, enc: EncryptedText, metadata: dict[str, str]) -> str: ...

    def put_many(self, items: Sequence[tuple[EncryptedText, dict[str, str]]]) -> list[str]: ...

    def get(self, content_id: str) -> EncryptedText: ...

    def delete(self, content_id: str) -> bool: ...


def object_key(content_id: str) -> str:
    """A safe relative path for a content id: every segment is percent-encoded (``.`` too, so
    no segment can climb out of the root); over-long segments become their SHA-256."""
    if not content_id:
        raise ValueError("content id is empty")
    parts = []
    for segment in content_id.split("/"):
        if not segment:
            raise ValueError(f"content id {content_id!r} has an empty path segment")
        if not _SAFE_SEGMENT.fullmatch(segment):
            segment = quote(segment, safe="").replace(".", "%2E")
            if len(segment) > 200:
                # "%h" cannot come out of quote(), so hashed names never collide with quoted ones.
                segment = "%h" + hashlib.sha256(segment.encode()).hexdigest()
        parts.append(segment)
    return "/".join(parts) + ".json"


@cache
def _s3_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(max_pool_connections=32, retries={"mode": "standard"}),
    )


class _S3Objects:
    """Objects in an S3 bucket under a prefix; the classification is also object metadata so
    the idempotence check is a HEAD, not a GET."""

    def __init__(self, bucket: str, prefix: str, region: str | None, endpoint: str | None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = _s3_client(region, endpoint)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @staticmethod
    def _missing(exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        return code in {"404", "NoSuchKey", "NotFound"}

    def read(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise
        return bytes(body.read())

    def classification_of(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise
        return str(head.get("Metadata", {}).get("classification"))

    def write_many(self, writes: Sequence[Write], map_: Map = map) -> None:
        list(map_(self._write, writes))  # a completed PutObject is durable

    def _write(self, write: Write) -> None:
        key, data, classification = write
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType="application/json",
            Metadata={"classification": classification},
        )

    def delete(self, key: str) -> bool:
        if self.classification_of(key) is None:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return True


class LocalVaultStore:
    """The vault without ``VAULT_API_URL``: a directory path, or ``s3://bucket/prefix``.

    In a directory the records live in one SQLite database, and a ``put_many`` is one durable
    transaction (``vault.sqlite_objects``): a reference written to the graph never outlives
    its record after a crash. S3 requests of a put run on ``max_workers`` threads."""

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_workers: int = 32,
    ) -> None:
        self.uri = uri
        self.max_workers = max_workers
        self._objects: SqliteObjects | _S3Objects
        if uri.startswith("s3://"):
            bucket, _, prefix = uri[len("s3://") :].partition("/")
            if not bucket:
                raise ValueError(f"vault URI {uri!r} names no bucket")
            endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
            self._objects = _S3Objects(bucket, prefix, region, endpoint)
        else:
            root = Path(uri[len("file://") :] if uri.startswith("file://") else uri)
            self._objects = SqliteObjects(root)

    def _pending_write(self, item: tuple[EncryptedText, Mapping[str, str]]) -> Write | None:
        enc, metadata = item
        key = object_key(enc.content_id)
        if self._objects.classification_of(key) == enc.classification:
            return None
        return key, orjson.dumps(to_record(enc, metadata)), enc.classification

    def put(self, enc: EncryptedText, metadata: dict[str, str]) -> str:
        return self.put_many([(enc, metadata)])[0]

    def put_many(self, items: Sequence[tuple[EncryptedText, dict[str, str]]]) -> list[str]:
        objects = self._objects
        if isinstance(objects, _S3Objects) and len(items) > 1:
            # S3 calls wait on the network, not the GIL, so a pool overlaps them.
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
                pending = [w for w in pool.map(self._pending_write, items) if w is not None]
                objects.write_many(pending, pool.map)
        else:
            objects.write_many([w for w in map(self._pending_write, items) if w is not None])
        return [reference_for(enc) for enc, _ in items]

    def get(self, content_id: str) -> EncryptedText:
        data = self._objects.read(object_key(content_id))
        if data is None:
            raise VaultRecordNotFound(content_id)
        return from_record(orjson.loads(data))

    def get_metadata(self, content_id: str) -> dict[str, str]:
        data = self._objects.read(object_key(content_id))
        if data is None:
            raise VaultRecordNotFound(content_id)
        return dict(orjson.loads(data).get("metadata") or {})

    def delete(self, content_id: str) -> bool:
        """Remove the record (crypto-shredding: its wrapped DEK goes with it)."""
        return self._objects.delete(object_key(content_id))

    def __repr__(self) -> str:
        return f"LocalVaultStore(uri={self.uri!r})"


def make_vault_store(settings: Settings) -> VaultStore:
    if settings.vault_api_url:
        # Refuse rather than silently keep sensitive text somewhere the operator did not choose.
        raise NotImplementedError(
            "VAULT_API_URL is set, but the HTTP vault store is not available in this build; "
            "unset VAULT_API_URL to use VAULT_LOCAL_URI"
        )
    return LocalVaultStore(
        settings.vault_local_uri, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region
    )
