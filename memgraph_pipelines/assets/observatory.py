"""Observatory ingestion assets: one dynamic partition per exact offset-range batch.

``observatory_batch`` reads its range, decodes, validates, dead-letters, vaults sensitive text
and stages Parquet; a blocking check holds a batch that fails too much; ``observatory_graph``
loads the staged batch into Neo4j and then commits the loaded offsets to the consumer group.
"""

import time

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    Backoff,
    DynamicPartitionsDefinition,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    Output,
    RetryPolicy,
    asset,
    asset_check,
)

from memgraph_pipelines.assets.load_history import COMMIT_SCAN_METADATA, commit_after_load
from memgraph_pipelines.kafka.ranges import BatchSpec
from memgraph_pipelines.pipeline.batch import StagedBatch, loaded_event_count, stage_batch
from memgraph_pipelines.pipeline.stages import ValidationPolicy, build_stages
from memgraph_pipelines.resources.ingestion import IngestionResource
from memgraph_pipelines.resources.kafka import KafkaResource
from memgraph_pipelines.resources.neo4j import Neo4jResource
from memgraph_pipelines.resources.vault import VaultResource
from memgraph_pipelines.settings import dlq_topic

observatory_batches = DynamicPartitionsDefinition(name="observatory_batches")

#: Every graph writer takes a slot of this pool: concurrent runs never deadlock on shared nodes.
NEO4J_WRITE_POOL = "neo4j_writes"
GRAPH_ASSET_KEY = AssetKey("observatory_graph")


@asset(
    partitions_def=observatory_batches,
    io_manager_key="staging_io_manager",
    group_name="observatory",
    kinds={"kafka", "parquet"},
    description="An exact offset range of the telemetry topic, decoded, validated and staged "
    "as Parquet with sensitive text replaced by vault references.",
)
def observatory_batch(
    context: AssetExecutionContext,
    kafka: KafkaResource,
    vault: VaultResource,
    ingestion: IngestionResource,
) -> Output[StagedBatch]:
    spec = BatchSpec.from_key(context.partition_key)
    stages = build_stages(
        kafka.connection(),
        group_id=kafka.consumer_group,
        dlq_topic=dlq_topic(spec.topic),
        kek=vault.kek(),
        store=vault.store(),
        hmac_secret=vault.hmac_secret(),
        validation=ValidationPolicy(ingestion.validate_batches, ingestion.failure_threshold),
    )
    started = time.perf_counter()
    staged = stage_batch(spec, stages)
    elapsed = time.perf_counter() - started
    dead = staged.dead_lettered
    context.log.info(
        f"batch {spec.key}: read {staged.read}, to load {staged.to_load}, "
        f"dead-lettered {sum(dead.values())}, duplicates {staged.duplicates}"
    )
    metadata = {
        "records_read": staged.read,
        "records_to_load": staged.to_load,
        "dead_lettered": sum(dead.values()),
        "dead_lettered_by_reason": MetadataValue.json(dict(sorted(dead.items()))),
        "duplicates": staged.duplicates,
        "sensitive_texts_vaulted": staged.vaulted,
        "bytes_read": staged.bytes_read,
        "duration_s": round(elapsed, 3),
        "events_per_s": round(staged.read / elapsed, 1) if elapsed else 0.0,
        "stage_seconds": MetadataValue.json({k: round(v, 4) for k, v in staged.seconds.items()}),
    }
    return Output(staged, metadata=metadata)


@asset_check(
    asset=observatory_batch,
    blocking=True,
    partitions_def=observatory_batches,
    description="The expectation suite (GX) over the batch; fails when too many records fail.",
)
def observatory_batch_valid(observatory_batch: StagedBatch) -> AssetCheckResult:
    report = observatory_batch.validation
    if report is None:
        return AssetCheckResult(passed=True, metadata={"validated": False})
    failing = report.get("failures", {})
    return AssetCheckResult(
        passed=not report.get("held", False),
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "failure_share": float(report.get("failure_share", 0.0)),
            "rows_checked": int(report.get("rows_checked", 0)),
            "rows_failed": int(report.get("rows_failed", 0)),
            "failed_expectations": MetadataValue.json(failing),
        },
    )


@asset(
    partitions_def=observatory_batches,
    group_name="observatory",
    kinds={"neo4j"},
    pool=NEO4J_WRITE_POOL,
    retry_policy=RetryPolicy(
        max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
    ),
    description="The staged batch merged into the lineage graph; offsets committed after.",
)
def observatory_graph(
    context: AssetExecutionContext,
    observatory_batch: StagedBatch,
    neo4j: Neo4jResource,
    kafka: KafkaResource,
) -> MaterializeResult:
    from memgraph_pipelines.graph.loader import load_batch
    from memgraph_pipelines.graph.migrations import apply_migrations

    spec = BatchSpec.from_key(context.partition_key)
    staged = observatory_batch
    if (staged.validation or {}).get("held"):
        # The blocking check stops this step in a run that has both; a run of this asset alone
        # (a graph-only run, or one launched by hand) must not load a held batch either.
        raise Failure(
            f"batch {spec.key} is held by its checks: fix the cause and re-materialize "
            "observatory_batch first"
        )
    loaded = loaded_event_count(staged.tables)
    if loaded != staged.to_load:
        raise RuntimeError(
            f"accounting mismatch in {spec.key}: {staged.read} read, {loaded} staged events, "
            f"{staged.duplicates} duplicates, {sum(staged.dead_lettered.values())} dead-lettered"
        )
    driver = neo4j.driver()
    apply_migrations(driver, neo4j.database)  # a no-op read once the schema is current
    stats = load_batch(
        driver,
        neo4j.database,
        staged.tables,
        source_topic=spec.topic,
        batch_key=spec.key,
        ingested_at_ms=int(time.time() * 1000),
        chunk_size=neo4j.load_chunk_size,
        writers=neo4j.load_writers,
        on_transaction=neo4j.transaction_hook(),
    )
    committed, scan = commit_after_load(
        context.instance, GRAPH_ASSET_KEY, kafka.connection(), kafka.consumer_group, spec
    )
    return MaterializeResult(
        metadata={
            "records_read": staged.read,
            "records_loaded": loaded,
            "dead_lettered": sum(staged.dead_lettered.values()),
            "duplicates": staged.duplicates,
            "load_seconds": round(stats.seconds, 3),
            "load_transactions": stats.transactions,
            "load_step_seconds": MetadataValue.json(
                {step: round(seconds, 3) for step, seconds in stats.step_seconds.items()}
            ),
            "rows_by_table": MetadataValue.json(dict(stats.table_rows)),
            "committed_offsets": MetadataValue.json(
                {str(p): o for p, o in committed.moved.items()}
            ),
            COMMIT_SCAN_METADATA: MetadataValue.json(scan.as_json()),
        }
    )
