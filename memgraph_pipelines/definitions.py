"""The Dagster code location: assets, checks, jobs, sensors and resources.

Every setting comes from SPEC §6's environment variables. Secrets are passed as ``EnvVar``
so the UI and run config show the variable's name, never its value; other settings fall back
to the local defaults of ``memgraph_pipelines.settings`` when unset.
"""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from memgraph_pipelines.assets.dlq import dlq_replay_job, dlq_replay_schedule
from memgraph_pipelines.assets.observatory import (
    observatory_batch,
    observatory_batch_valid,
    observatory_graph,
)
from memgraph_pipelines.jobs import observatory_ingestion_job
from memgraph_pipelines.resources.ingestion import IngestionResource
from memgraph_pipelines.resources.kafka import KafkaResource
from memgraph_pipelines.resources.neo4j import Neo4jResource
from memgraph_pipelines.resources.staging import StagingIOManager
from memgraph_pipelines.resources.vault import VaultResource
from memgraph_pipelines.sensors.observatory import observatory_kafka_sensor
from memgraph_pipelines.settings import Settings


def _secret(name: str) -> EnvVar | None:
    """An EnvVar for a secret that is configured, else None (the feature is off)."""
    return EnvVar(name) if os.environ.get(name) else None


def _neo4j_password(s: Settings) -> EnvVar:
    # The local server's generated password goes through the environment too, so that it is
    # never part of the resource config the UI shows.
    if not os.environ.get("NEO4J_PASSWORD") and s.neo4j_password:
        os.environ["NEO4J_PASSWORD"] = s.neo4j_password
    return EnvVar("NEO4J_PASSWORD")


def build_resources(settings: Settings | None = None) -> dict[str, object]:
    s = settings or Settings.from_env()
    return {
        "kafka": KafkaResource(
            brokers=s.kafka_brokers,
            security_protocol=s.kafka_security_protocol,
            username=s.kafka_username,
            password=_secret("KAFKA_PASSWORD"),
        ),
        "neo4j": Neo4jResource(
            uri=s.neo4j_uri,
            username=s.neo4j_username,
            password=_neo4j_password(s),
            database=s.neo4j_database,
        ),
        "vault": VaultResource(
            vault_local_uri=s.vault_local_uri,
            local_kek_file=s.local_kek_file,
            kms_key_id=s.kms_key_id,
            aws_region=s.aws_region,
            aws_endpoint_url=s.aws_endpoint_url,
            text_hmac_secret=_secret("TEXT_HMAC_SECRET"),
        ),
        "ingestion": IngestionResource(observatory_topic=s.observatory_topic),
        "staging_io_manager": StagingIOManager(base_uri=s.staging_uri),
    }


defs = Definitions(
    assets=[observatory_batch, observatory_graph],
    asset_checks=[observatory_batch_valid],
    jobs=[observatory_ingestion_job, dlq_replay_job],
    schedules=[dlq_replay_schedule],
    sensors=[observatory_kafka_sensor],
    resources=build_resources(),
)
