"""The Observatory offsets sensor: reads watermarks only, never a message, and turns new
records into exact-range batches (dynamic partitions) with one run each."""

import json
import time
from dataclasses import dataclass, field

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from memgraph_pipelines.assets.load_history import registered_since
from memgraph_pipelines.assets.observatory import observatory_batches
from memgraph_pipelines.jobs import observatory_ingestion_job
from memgraph_pipelines.pipeline.planning import plan_next_batches
from memgraph_pipelines.resources.ingestion import IngestionResource
from memgraph_pipelines.resources.kafka import KafkaResource


@dataclass(frozen=True, slots=True)
class SensorState:
    """The sensor's cursor: where each partition's next batch starts, and where the next read
    of the batches registered by anyone (another planner, such as `catch-up`) starts."""

    next_start: dict[int, int] = field(default_factory=dict)
    #: A Dagster pagination cursor over the registrations; None: read them all.
    registrations: str | None = None

    @classmethod
    def load(cls, raw: str | None, topic: str) -> "SensorState":
        state = json.loads(raw) if raw else {}
        if state.get("topic") != topic:
            return cls()
        next_start = {int(p): int(o) for p, o in state.get("next", {}).items()}
        return cls(next_start, state.get("registrations"))

    def dump(self, topic: str) -> str:
        return json.dumps(
            {
                "topic": topic,
                "next": {str(p): o for p, o in self.next_start.items()},
                "registrations": self.registrations,
            }
        )


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
    state = SensorState.load(context.cursor, topic)
    # Only the registrations not read yet (and the last page read): the cursor's next starts
    # cover every batch registered before them. A new cursor reads them all.
    keys, registrations = registered_since(
        context.instance, observatory_batches.name, state.registrations
    )
    plan = plan_next_batches(
        kafka.connection(),
        topic,
        kafka.consumer_group,
        registered_keys=keys,
        cursor=state.next_start,
        max_records=ingestion.max_batch_records,
        max_wait_ms=ingestion.max_wait_seconds * 1000,
        max_batches=ingestion.max_runs_per_tick,
        now_ms=int(time.time() * 1000),
    )
    cursor = SensorState(plan.next_start, registrations).dump(topic)
    if not plan.batches:
        context.update_cursor(cursor)
        return SkipReason(f"no batch due; {plan.backlog} records waiting")
    keys = [b.key for b in plan.batches]
    return SensorResult(
        run_requests=[RunRequest(partition_key=k, run_key=k) for k in keys],
        dynamic_partitions_requests=[observatory_batches.build_add_request(keys)],
        cursor=cursor,
    )
