"""Where encrypted texts are kept (SPEC §4.3): the vault store interface and the local default.

Plain module. ``LocalVaultStore`` keeps the §4.3 record of each content id as one JSON object,
in a directory or under an ``s3://bucket/prefix``. A store is idempotent per content id: putting
a content id that is already stored with the same classification leaves the stored record as it
is and returns the same reference.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote

import orjson

from memgraph_pipelines.vault.envelope import EncryptedText, from_record, to_record

if TYPE_CHECKING:
    from memgraph_pipelines.settings import Settings

TEXT_KINDS = ("prompts", "responses")
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_\-]{1,200}")


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


class _DirectoryObjects:
    """Objects as files under a root directory (0700 dirs, 0600 files, atomic replace)."""

    def __init__(self, root: Path, *, durable: bool) -> None:
        self.root = root
        self.durable = durable
        self.root.mkdir(parents=True, mode=0o700, exist_ok=True)
        self._made_dirs: set[Path] = {self.root}

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def classification_of(self, key: str) -> str | None:
        data = self.read(key)
        return None if data is None else str(orjson.loads(data).get("classification"))

    def write(self, key: str, data: bytes, classification: str) -> None:
        path = self.root / key
        if path.parent not in self._made_dirs:
            path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
            self._made_dirs.add(path.parent)
        # A name unique to this process and thread; O_EXCL guards against a stale leftover.
        tmp = path.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if self.durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def sync_dirs(self, keys: Sequence[str]) -> None:
        # One directory fsync per directory touched makes the renames durable.
        if not self.durable:
            return
        for directory in {(self.root / key).parent for key in keys}:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def delete(self, key: str) -> bool:
        try:
            (self.root / key).unlink()
        except FileNotFoundError:
            return False
        return True


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

    def write(self, key: str, data: bytes, classification: str) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType="application/json",
            Metadata={"classification": classification},
        )

    def sync_dirs(self, keys: Sequence[str]) -> None:
        return None  # a completed PutObject is durable

    def delete(self, key: str) -> bool:
        if self.classification_of(key) is None:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return True


class LocalVaultStore:
    """The vault without ``VAULT_API_URL``: a directory path, or ``s3://bucket/prefix``.

    ``durable`` (directories only) fsyncs each record and its directory before a put returns,
    so a reference written to the graph never outlives its record after a crash."""

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        durable: bool = True,
        max_workers: int = 32,
    ) -> None:
        self.uri = uri
        self.max_workers = max_workers
        self._objects: _DirectoryObjects | _S3Objects
        if uri.startswith("s3://"):
            bucket, _, prefix = uri[len("s3://") :].partition("/")
            if not bucket:
                raise ValueError(f"vault URI {uri!r} names no bucket")
            endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
            self._objects = _S3Objects(bucket, prefix, region, endpoint)
            self._remote = True
        else:
            root = Path(uri[len("file://") :] if uri.startswith("file://") else uri)
            self._objects = _DirectoryObjects(root, durable=durable)
            self._remote = False

    def _put_one(self, enc: EncryptedText, metadata: Mapping[str, str]) -> tuple[str, bool]:
        key = object_key(enc.content_id)
        if self._objects.classification_of(key) == enc.classification:
            return key, False
        self._objects.write(key, orjson.dumps(to_record(enc, metadata)), enc.classification)
        return key, True

    def put(self, enc: EncryptedText, metadata: dict[str, str]) -> str:
        key, written = self._put_one(enc, metadata)
        if written:
            self._objects.sync_dirs([key])
        return reference_for(enc)

    def put_many(self, items: Sequence[tuple[EncryptedText, dict[str, str]]]) -> list[str]:
        # File and S3 calls release the GIL (fsync, sockets), so a small pool overlaps them.
        if len(items) > 1:
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
                results = list(pool.map(lambda item: self._put_one(*item), items))
        else:
            results = [self._put_one(enc, metadata) for enc, metadata in items]
        self._objects.sync_dirs([key for key, written in results if written])
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
