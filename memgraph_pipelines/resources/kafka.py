"""Kafka as a Dagster resource: PLAINTEXT locally, SASL_SSL with SCRAM in production."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from memgraph_pipelines.kafka.client import KafkaConnection
from memgraph_pipelines.settings import CONSUMER_GROUP


class KafkaResource(ConfigurableResource):
    """Connection to the Kafka cluster that carries Observatory telemetry and Registry CDC."""

    brokers: str = Field(description="Bootstrap servers (KAFKA_BROKERS).")
    security_protocol: str = Field(default="PLAINTEXT", description="KAFKA_SECURITY_PROTOCOL.")
    username: str | None = Field(default=None, description="SASL user (KAFKA_USERNAME).")
    password: str | None = Field(default=None, description="SASL password (KAFKA_PASSWORD).")
    consumer_group: str = Field(default=CONSUMER_GROUP)

    def connection(self) -> KafkaConnection:
        return KafkaConnection(
            brokers=self.brokers,
            security_protocol=self.security_protocol,
            username=self.username,
            password=self.password,
        )
