"""The Observatory offsets sensor: reads watermarks only, never a message, and turns new
records into exact-range batches (dynamic partitions) with one run each."""

import json
import time

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from memgraph_pipelines.assets.observatory import observatory_batches
from memgraph_pipelines.jobs import observatory_ingestion_job
from memgraph_pipelines.pipeline.planning import plan_next_batches
from memgraph_pipelines.resources.ingestion import IngestionResource
from memgraph_pipelines.resources.kafka import KafkaResource


def _load_cursor(raw: str | None, topic: str) -> dict[int, int]:
    if not raw:
        return {}
    state = json.loads(raw)
    if state.get("topic") != topic:
        return {}
    return {int(p): int(o) for p, o in state.get("next", {}).items()}


@sensor(
    job=observatory_ingestion_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="New Observatory telemetry offsets -> exact-range batches.",
)
def observatory_kafka_sensor(
    context: SensorEvaluationContext, kafka: KafkaResource, ingestion: IngestionResource
) -> SensorResult | SkipReason:
    topic = ingestion.observatory_topic
    plan = plan_next_batches(
        kafka.connection(),
        topic,
        kafka.consumer_group,
        registered_keys=context.instance.get_dynamic_partitions(observatory_batches.name),
        cursor=_load_cursor(context.cursor, topic),
        max_records=ingestion.max_batch_records,
        max_wait_ms=ingestion.max_wait_seconds * 1000,
        max_batches=ingestion.max_runs_per_tick,
        now_ms=int(time.time() * 1000),
    )
    cursor = json.dumps({"topic": topic, "next": {str(p): o for p, o in plan.next_start.items()}})
    if not plan.batches:
        context.update_cursor(cursor)
        return SkipReason(f"no batch due; {plan.backlog} records waiting")
    keys = [b.key for b in plan.batches]
    return SensorResult(
        run_requests=[RunRequest(partition_key=k, run_key=k) for k in keys],
        dynamic_partitions_requests=[observatory_batches.build_add_request(keys)],
        cursor=cursor,
    )
