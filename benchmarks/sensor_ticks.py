"""Sensor tick time: the Observatory sensor itself, evaluated against the untouched backlog,
on an instance that already has a history of registered batches.

The history is ``history`` backfill batch keys of the bench topic: every tick reads the
registrations it has not seen, and backfill batches never move the stream's frontier, so they
cost a tick what a production history costs it without changing what it plans. The first tick
has a fresh cursor and reads the whole history; the ticks after it read only what is new (the
batches each tick plans are registered between ticks, as the daemon does, untimed).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from memgraph_pipelines.kafka.ranges import BatchSpec, PartitionRange

#: Registered batches before the first tick: two weeks of one batch a minute.
DEFAULT_HISTORY = 20_000


def history_keys(topic: str, count: int, partitions: int = 12) -> list[str]:
    """``count`` backfill keys of ``topic``, each a 4,167-record range of every partition."""
    return [
        BatchSpec(
            topic,
            tuple(PartitionRange(p, i * 4167, (i + 1) * 4167) for p in range(partitions)),
            backfill=True,
        ).key
        for i in range(count)
    ]


def time_sensor_ticks(settings: Any, ticks: int, *, history: int) -> dict[str, Any]:
    """Evaluates the sensor ``ticks`` times after a first tick; returns their times."""
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from memgraph_pipelines.assets.observatory import observatory_batches
    from memgraph_pipelines.definitions import build_resources
    from memgraph_pipelines.sensors.observatory import observatory_kafka_sensor

    all_resources = build_resources(settings)
    resources = {name: all_resources[name] for name in ("kafka", "ingestion")}
    planned = 0
    seconds: list[float] = []
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(
            observatory_batches.name, history_keys(settings.observatory_topic, history)
        )
        cursor: str | None = None
        for _ in range(1 + max(1, ticks)):
            context = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            started = time.perf_counter()
            result = observatory_kafka_sensor(context)
            seconds.append(time.perf_counter() - started)
            if isinstance(result, SensorResult):
                cursor = result.cursor
                keys = [r.partition_key for r in result.run_requests]
                instance.add_dynamic_partitions(observatory_batches.name, keys)
                planned += len(keys)
            else:
                cursor = context.cursor
    first, rest = seconds[0], seconds[1:]
    return {
        "history": history,
        "first_tick_s": round(first, 4),
        "ticks_s": [round(s, 4) for s in rest],
        "median_s": statistics.median(rest),
        "max_s": max(rest),
        "planned_batches": planned,
    }
