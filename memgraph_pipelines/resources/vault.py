"""The Data-Vault side of a batch as a Dagster resource: the key-encryption key (a local key
file, or AWS KMS when ``kms_key_id`` is set), the vault store and the text HMAC secret."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from memgraph_pipelines.settings import Settings


class VaultResource(ConfigurableResource):
    vault_local_uri: str = Field(description="Local vault store: a directory or s3:// URI.")
    local_kek_file: str = Field(description="Local KEK file (created 0600) when KMS is not set.")
    kms_key_id: str | None = Field(default=None, description="AWS KMS key id (KMS_KEY_ID).")
    aws_region: str | None = Field(default=None)
    aws_endpoint_url: str | None = Field(default=None)
    text_hmac_secret: str | None = Field(default=None, description="TEXT_HMAC_SECRET.")

    _cache: dict[str, Any] = PrivateAttr(default_factory=dict)

    def _settings(self) -> Settings:
        base = Settings.from_env()
        return Settings(
            **{
                **base.__dict__,
                "vault_local_uri": self.vault_local_uri,
                "local_kek_file": self.local_kek_file,
                "kms_key_id": self.kms_key_id,
                "aws_region": self.aws_region,
                "aws_endpoint_url": self.aws_endpoint_url,
                "text_hmac_secret": self.text_hmac_secret,
            }
        )

    def kek(self) -> Any:
        if "kek" not in self._cache:
            from memgraph_pipelines.vault.kek import make_kek

            self._cache["kek"] = make_kek(self._settings())
        return self._cache["kek"]

    def store(self) -> Any:
        if "store" not in self._cache:
            from memgraph_pipelines.vault.store import make_vault_store

            self._cache["store"] = make_vault_store(self._settings())
        return self._cache["store"]

    def hmac_secret(self) -> bytes:
        if "hmac" not in self._cache:
            from memgraph_pipelines.vault.kek import load_hmac_secret

            self._cache["hmac"] = load_hmac_secret(self._settings())
        return self._cache["hmac"]
