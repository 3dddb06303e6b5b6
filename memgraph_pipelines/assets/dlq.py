"""The ``dlq_replay`` job: one op around ``pipeline.replay.replay_dead_letters``, plus an hourly
schedule, off until an operator turns it on."""

from dagster import (
    Config,
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from memgraph_pipelines.assets.observatory import NEO4J_WRITE_POOL
from memgraph_pipelines.pipeline.replay import (
    DEFAULT_MAX_RETRIES,
    ReplayFilter,
    ReplayOptions,
    ReplayTargets,
    iso_to_ms,
    replay_dead_letters,
)
from memgraph_pipelines.resources.ingestion import IngestionResource
from memgraph_pipelines.resources.kafka import KafkaResource
from memgraph_pipelines.resources.neo4j import Neo4jResource
from memgraph_pipelines.resources.vault import VaultResource
from memgraph_pipelines.validation.suite import ValidationConfig


class DlqReplayConfig(Config):
    reason: str | None = Field(default=None, description="Only this x-failure-reason.")
    since: str | None = Field(
        default=None, description="Only DLQ timestamps at or after this ISO-8601 time."
    )
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES, description="Retries before a record is parked."
    )


@op(pool=NEO4J_WRITE_POOL, description="Replay the DLQ: load what is valid now, retry or park.")
def replay_dead_letters_op(
    context: OpExecutionContext,
    config: DlqReplayConfig,
    kafka: KafkaResource,
    neo4j: Neo4jResource,
    vault: VaultResource,
    ingestion: IngestionResource,
) -> dict:
    options = ReplayOptions(
        filter=ReplayFilter(config.reason, iso_to_ms(config.since) if config.since else None),
        max_retries=config.max_retries,
        validation=ValidationConfig() if ingestion.validate_batches else None,
        load_chunk_size=neo4j.load_chunk_size,
        load_writers=neo4j.load_writers,
    )
    targets = ReplayTargets(
        connection=kafka.connection(),
        driver=neo4j.driver(),
        database=neo4j.database,
        kek=vault.kek(),
        store=vault.store(),
        hmac_secret=vault.hmac_secret(),
    )
    summary = replay_dead_letters(ingestion.observatory_topic, targets, options)
    result = summary.as_json()
    context.log.info(f"dlq replay: {result}")  # counts and offsets only
    context.add_output_metadata(
        {
            "read": summary.read,
            "loaded": summary.loaded,
            "dead_lettered_again": MetadataValue.json(result["dead_lettered_again"]),
            "parked": summary.parked,
            "skipped_by_filter": summary.skipped_by_filter,
            "duplicates": summary.duplicates,
        }
    )
    return result


@job(name="dlq_replay", description="Re-read the DLQ; load the fixed records, retry or park.")
def dlq_replay_job() -> None:
    replay_dead_letters_op()


dlq_replay_schedule = ScheduleDefinition(
    name="dlq_replay_hourly",
    job=dlq_replay_job,
    cron_schedule="17 * * * *",
    default_status=DefaultScheduleStatus.STOPPED,
)
