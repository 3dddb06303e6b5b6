"""Runtime settings read from the environment (SPEC §6 names), with local defaults.

Plain module: no Dagster imports. Dagster resources read the same names through ``EnvVar``;
the CLI and the plain pipeline code read them here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memgraph_pipelines.kafka.client import KafkaConnection

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Local state (services data, staging, vault, keys, Dagster home); gitignored.
LOCAL_HOME = Path(os.environ.get("MEMGRAPH_HOME", PROJECT_ROOT / "var"))

#: Where `memgraph-pipelines services` keeps downloads (Maven cache) and server state.
CACHE_DIR = Path(os.environ.get("MEMGRAPH_CACHE", PROJECT_ROOT / ".cache"))
SERVICES_DIR = LOCAL_HOME / "services"
#: Generated Neo4j password of the local server (mode 0600, gitignored).
NEO4J_PASSWORD_FILE = SERVICES_DIR / "neo4j" / "password"

CONSUMER_GROUP = "memory-graph-consumers"
DEFAULT_OBSERVATORY_TOPIC = "llm-telemetry-events"
DEFAULT_REGISTRY_CDC_TOPIC = "registry.public.models"


def dlq_topic(topic: str) -> str:
    return f"{topic}-dlq"


def parked_topic(topic: str) -> str:
    return f"{topic}-dlq-parked"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _local_neo4j_password() -> str | None:
    try:
        return NEO4J_PASSWORD_FILE.read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class Settings:
    kafka_brokers: str
    kafka_security_protocol: str
    kafka_username: str | None
    kafka_password: str | None
    neo4j_uri: str
    neo4j_username: str
    neo4j_password: str | None
    neo4j_database: str
    observatory_topic: str
    registry_cdc_topic: str
    staging_uri: str
    vault_local_uri: str
    vault_api_url: str | None
    local_kek_file: str
    kms_key_id: str | None
    aws_region: str | None
    aws_endpoint_url: str | None
    text_hmac_secret: str | None
    dagster_home: str

    @property
    def dlq_topic(self) -> str:
        return dlq_topic(self.observatory_topic)

    def kafka_connection(self) -> KafkaConnection:
        """The Kafka connection these settings describe."""
        from memgraph_pipelines.kafka.client import KafkaConnection

        return KafkaConnection(
            self.kafka_brokers,
            self.kafka_security_protocol,
            self.kafka_username,
            self.kafka_password,
        )

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            kafka_brokers=_env("KAFKA_BROKERS", "127.0.0.1:9092") or "",
            kafka_security_protocol=_env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") or "PLAINTEXT",
            kafka_username=_env("KAFKA_USERNAME"),
            kafka_password=_env("KAFKA_PASSWORD"),
            neo4j_uri=_env("NEO4J_URI", "bolt://127.0.0.1:7687") or "",
            neo4j_username=_env("NEO4J_USERNAME", "neo4j") or "neo4j",
            neo4j_password=_env("NEO4J_PASSWORD") or _local_neo4j_password(),
            neo4j_database=_env("NEO4J_DATABASE", "neo4j") or "neo4j",
            observatory_topic=_env("OBSERVATORY_TOPIC", DEFAULT_OBSERVATORY_TOPIC) or "",
            registry_cdc_topic=_env("REGISTRY_CDC_TOPIC", DEFAULT_REGISTRY_CDC_TOPIC) or "",
            staging_uri=_env("STAGING_URI", str(LOCAL_HOME / "staging")) or "",
            vault_local_uri=_env("VAULT_LOCAL_URI", str(LOCAL_HOME / "vault")) or "",
            vault_api_url=_env("VAULT_API_URL"),
            local_kek_file=_env("LOCAL_KEK_FILE", str(LOCAL_HOME / "keys" / "kek.key")) or "",
            kms_key_id=_env("KMS_KEY_ID"),
            aws_region=_env("AWS_REGION"),
            aws_endpoint_url=_env("AWS_ENDPOINT_URL"),
            text_hmac_secret=_env("TEXT_HMAC_SECRET"),
            dagster_home=_env("DAGSTER_HOME", str(LOCAL_HOME / "dagster_home")) or "",
        )
