"""Builds the stages of a batch from configured connections. Plain module."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from memgraph_pipelines.kafka.client import KafkaConnection, read_batch
from memgraph_pipelines.pipeline.batch import BatchStages
from memgraph_pipelines.telemetry.outcome import DeadLetter


@dataclass(frozen=True)
class ValidationPolicy:
    """Whether to validate, and the share of failing records above which a batch is held
    whole (nothing dead-lettered for validation, nothing loaded) until someone looks."""

    enabled: bool = True
    failure_threshold: float = 0.05


def _validator(policy: ValidationPolicy) -> Callable[[dict[str, pa.Table]], tuple[dict, dict]]:
    def validate(tables: dict[str, pa.Table]) -> tuple[dict, dict]:
        # GX is imported only here, when a batch runs, never when definitions load.
        from memgraph_pipelines.validation import (
            ValidationConfig,
            split_failed_rows,
            validate_tables,
        )

        config = ValidationConfig(failure_threshold=policy.failure_threshold)
        report = validate_tables(tables, config)
        metadata = report.to_metadata()
        metadata["held"] = held = not report.passed_threshold(config)
        if held:
            return metadata, {}
        _, failed = split_failed_rows(tables, report)
        failures: dict[tuple[int, int], list[str]] = {}
        for row in failed:
            failures.setdefault((row.source_partition, row.source_offset), []).extend(
                row.expectations
            )
        return metadata, failures

    return validate


def build_stages(
    connection: KafkaConnection,
    *,
    group_id: str,
    dlq_topic: str,
    kek: Any,
    store: Any,
    hmac_secret: bytes,
    validation: ValidationPolicy,
) -> BatchStages:
    from memgraph_pipelines.kafka.dlq import produce_dead_letters
    from memgraph_pipelines.vault.protect import protect_tables

    def send(dead_letters: list[DeadLetter]) -> Counter[str]:
        return produce_dead_letters(connection.shared_producer(), dlq_topic, dead_letters, kek=kek)

    def protect(tables: dict[str, pa.Table]) -> tuple[dict[str, pa.Table], int]:
        result = protect_tables(tables, kek=kek, store=store, hmac_secret=hmac_secret)
        return result.tables, result.vaulted

    return BatchStages(
        read=lambda spec: read_batch(connection, group_id, spec),
        send_dead_letters=send,
        protect=protect,
        validate=_validator(validation) if validation.enabled else None,
    )
