"""Batch validation: the GX suite, its report, the split of failed rows and the Arrow twins."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from memgraph_pipelines.telemetry.schemas import TABLE_SCHEMAS
from memgraph_pipelines.validation import (
    EXPECTATION_NAMES,
    SUITE,
    ValidationConfig,
    ValidationReport,
    split_failed_rows,
    validate_tables,
)
from memgraph_pipelines.validation.prechecks import precheck_failed_positions
from memgraph_pipelines.validation.runner import _gx_suites

NOW_MS = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)
CONFIG = ValidationConfig(now_ms=NOW_MS)
FLOOR_MS = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000
MODELS = ("gpt-4o", "claude-3-5-sonnet", "llama-3-70b", "gemini-1-5-pro")
SECRET_TEXT = "my card is 4111 1111 1111 1111"


def _provenance(i: int) -> dict[str, Any]:
    return {"source_partition": i % 3, "source_offset": 1000 + i}


def invocation_row(i: int) -> dict[str, Any]:
    return {
        "event_id": f"inv-evt-{i}",
        "invocation_id": f"inv-{i // 2}",  # start and complete share the key
        "event_type": "llm.invocation.complete" if i % 2 else "llm.invocation.start",
        "schema_version": "2",
        "ts_ms": NOW_MS - 60_000 + i,
        "status": "success" if i % 2 else "started",
        "model_id": MODELS[i % len(MODELS)],
        "provider": "openai",
        "session_id": f"sess-{i % 7}",
        "user_id": f"user-{i % 5}",
        "prompt_event_id": f"prm-{i}",
        "response_event_id": f"rsp-{i}",
        "token_count": 30 if i % 2 else None,
        "prompt_tokens": 10 if i % 2 else None,
        "completion_tokens": 20 if i % 2 else None,
        "latency_ms": 812.5 if i % 2 else None,
        "cost_usd": 0.0021 if i % 2 else None,
        "trace_id": f"trace-{i}",
        "span_id": f"span-{i}",
        "parent_span_id": None,
        **_provenance(i),
    }


def token_update_row(i: int) -> dict[str, Any]:
    return {
        "event_id": f"tok-evt-{i}",
        "invocation_id": f"inv-{i}",
        "ts_ms": NOW_MS - 50_000 + i,
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "total_tokens": 42,
        **_provenance(i),
    }


def metric_row(i: int) -> dict[str, Any]:
    return {
        "event_id": f"met-evt-{i}",
        "invocation_id": f"inv-{i}",
        "ts_ms": NOW_MS - 40_000 + i,
        "metric_type": ("latency", "ttft", "throughput")[i % 3],
        "value": 123.4,
        "percentile": 95.0,
        **_provenance(i),
    }


def error_row(i: int) -> dict[str, Any]:
    return {
        "event_id": f"err-evt-{i}",
        "invocation_id": f"inv-{i}" if i % 2 else None,
        "ts_ms": NOW_MS - 30_000 + i,
        "error_type": "rate_limit",
        "message": "429 from provider",
        "severity": ("low", "medium", "high", "critical")[i % 4],
        "recoverable": True,
        **_provenance(i),
    }


def prompt_row(i: int) -> dict[str, Any]:
    return {
        "event_id": f"prm-{i}",
        "ts_ms": NOW_MS - 20_000 + i,
        "template": "qa-v1",
        "session_id": f"sess-{i % 7}",
        "user_id": f"user-{i % 5}",
        "application_id": "support-bot",
        "purpose": "qa",
        "model_id": MODELS[i % len(MODELS)],
        "provider": "anthropic",
        "token_count": 12,
        "classification": "pii",
        "text": SECRET_TEXT,
        "text_length": len(SECRET_TEXT),
        "content_ref": None,
        "text_hmac": "ab" * 32,
        "has_sensitive_content": True,
        **_provenance(i),
    }


def response_row(i: int) -> dict[str, Any]:
    return {
        "event_id": f"rsp-{i}",
        "ts_ms": NOW_MS - 10_000 + i,
        "prompt_event_id": f"prm-{i}",
        "finish_reason": "stop",
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "token_count": 42,
        "latency_ms": 900.0,
        "ttft_ms": 120.0,
        "cost_usd": 0.003,
        "classification": "internal",
        "text": "The capital of France is Paris.",
        "text_length": 31,
        "content_ref": None,
        "text_hmac": "cd" * 32,
        "has_sensitive_content": False,
        **_provenance(i),
    }


ROW_BUILDERS = {
    "invocations": invocation_row,
    "token_updates": token_update_row,
    "metrics": metric_row,
    "errors": error_row,
    "prompts": prompt_row,
    "responses": response_row,
}


def clean_batch(rows_per_table: int = 4) -> dict[str, list[dict[str, Any]]]:
    return {name: [build(i) for i in range(rows_per_table)] for name, build in ROW_BUILDERS.items()}


def as_tables(rows: dict[str, list[dict[str, Any]]]) -> dict[str, pa.Table]:
    return {
        name: pa.Table.from_pylist(table_rows, schema=TABLE_SCHEMAS[name])
        for name, table_rows in rows.items()
    }


DUPLICATE = object()  # marker: copy row 0's event_id into row 1

#: Expectation name -> values written into row 1 of the clean batch. Counts that break one
#: rule keep the total consistent, so that exactly one expectation fires.
BREAKERS: dict[str, dict[str, Any]] = {
    "invocations.event_id.not_null": {"event_id": None},
    "invocations.event_id.unique": {"event_id": DUPLICATE},
    "invocations.invocation_id.not_null": {"invocation_id": None},
    "invocations.model_id.not_null": {"model_id": None},
    "invocations.ts_ms.within_window": {"ts_ms": FLOOR_MS - 1},
    "invocations.status.in_set": {"status": "exploded"},
    "invocations.model_id.registry_form": {"model_id": "GPT 4o"},
    "invocations.token_count.non_negative": {"token_count": -30, "prompt_tokens": None},
    "invocations.prompt_tokens.non_negative": {"prompt_tokens": -10, "token_count": 10},
    "invocations.completion_tokens.non_negative": {"completion_tokens": -5, "token_count": 5},
    "invocations.latency_ms.non_negative": {"latency_ms": -0.5},
    "invocations.cost_usd.non_negative": {"cost_usd": math.inf},
    "invocations.token_count.equals_prompt_plus_completion": {"token_count": 31},
    "token_updates.event_id.not_null": {"event_id": None},
    "token_updates.event_id.unique": {"event_id": DUPLICATE},
    "token_updates.invocation_id.not_null": {"invocation_id": None},
    "token_updates.ts_ms.within_window": {"ts_ms": NOW_MS + DAY_MS + 1},
    "token_updates.prompt_tokens.non_negative": {"prompt_tokens": -12, "total_tokens": 18},
    "token_updates.completion_tokens.non_negative": {"completion_tokens": -2, "total_tokens": 10},
    "token_updates.total_tokens.non_negative": {"total_tokens": -42, "completion_tokens": None},
    "token_updates.total_tokens.equals_prompt_plus_completion": {"total_tokens": 43},
    "metrics.event_id.not_null": {"event_id": None},
    "metrics.event_id.unique": {"event_id": DUPLICATE},
    "metrics.invocation_id.not_null": {"invocation_id": None},
    "metrics.value.not_null": {"value": None},
    "metrics.ts_ms.within_window": {"ts_ms": 0},
    "metrics.metric_type.in_set": {"metric_type": "LATENCY_P99"},
    "metrics.value.non_negative": {"value": math.nan},
    "metrics.percentile.non_negative": {"percentile": -95.0},
    "errors.event_id.not_null": {"event_id": None},
    "errors.event_id.unique": {"event_id": DUPLICATE},
    "errors.ts_ms.within_window": {"ts_ms": NOW_MS + 2 * DAY_MS},
    "errors.severity.in_set": {"severity": "catastrophic"},
    "prompts.event_id.not_null": {"event_id": None},
    "prompts.event_id.unique": {"event_id": DUPLICATE},
    "prompts.session_id.not_null": {"session_id": None},
    "prompts.model_id.not_null": {"model_id": None},
    "prompts.ts_ms.within_window": {"ts_ms": FLOOR_MS - DAY_MS},
    "prompts.model_id.registry_form": {"model_id": "gpt-4o\n"},
    "prompts.classification.in_set": {"classification": "secret"},
    "prompts.token_count.non_negative": {"token_count": -1},
    "prompts.text_length.within_max_chars": {"text_length": 1_000_001},
    "responses.event_id.not_null": {"event_id": None},
    "responses.event_id.unique": {"event_id": DUPLICATE},
    "responses.prompt_event_id.not_null": {"prompt_event_id": None},
    "responses.ts_ms.within_window": {"ts_ms": NOW_MS + DAY_MS + 1000},
    "responses.finish_reason.in_set": {"finish_reason": "stopped"},
    "responses.classification.in_set": {"classification": "top-secret"},
    "responses.prompt_tokens.non_negative": {"prompt_tokens": -12, "token_count": 18},
    "responses.completion_tokens.non_negative": {"completion_tokens": -2, "token_count": 10},
    "responses.token_count.non_negative": {"token_count": -42, "completion_tokens": None},
    "responses.latency_ms.non_negative": {"latency_ms": -math.inf},
    "responses.ttft_ms.non_negative": {"ttft_ms": math.nan},
    "responses.cost_usd.non_negative": {"cost_usd": -0.01},
    "responses.token_count.equals_prompt_plus_completion": {"token_count": 41},
    "responses.text_length.within_max_chars": {"text_length": -1},
}


def broken_batch(name: str) -> dict[str, pa.Table]:
    rows = clean_batch()
    table = name.split(".", 1)[0]
    break_row(rows[table], 1, BREAKERS[name])
    return as_tables(rows)


def break_row(rows: list[dict[str, Any]], index: int, values: dict[str, Any]) -> None:
    for column, value in values.items():
        rows[index][column] = rows[0][column] if value is DUPLICATE else value


def fired(report: ValidationReport) -> set[str]:
    return {outcome.name for outcome in report.outcomes if not outcome.success}


def test_every_expectation_has_a_breaking_case() -> None:
    assert set(BREAKERS) == EXPECTATION_NAMES
    assert set(SUITE) == set(TABLE_SCHEMAS)


def test_clean_batch_passes_every_expectation() -> None:
    report = validate_tables(as_tables(clean_batch()), CONFIG)
    assert {outcome.name for outcome in report.outcomes} == EXPECTATION_NAMES
    assert fired(report) == set()
    assert report.success and report.rows_failed == 0 and report.failed_rows == {}
    assert report.rows_checked == 24
    assert report.passed_threshold(CONFIG)


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_crafted_row_fires_exactly_its_expectation(name: str) -> None:
    tables = broken_batch(name)
    report = validate_tables(tables, CONFIG)
    assert fired(report) == {name}
    table = name.split(".", 1)[0]
    duplicated = DUPLICATE in BREAKERS[name].values()
    outcome = next(o for o in report.outcomes if o.name == name)
    assert outcome.unexpected_count == (2 if duplicated else 1)
    assert report.rows_failed == outcome.unexpected_count
    assert set(report.failed_rows) == {table}
    for names in report.failed_rows[table].values():
        assert names == [name]
    # The Arrow twins agree with GX row for row.
    assert precheck_failed_positions(tables, CONFIG) == report.failed_positions


def test_failed_rows_are_reported_by_event_id() -> None:
    rows = clean_batch()
    rows["invocations"][2]["latency_ms"] = -1.0
    rows["invocations"][2]["status"] = "bogus"
    rows["responses"][3]["event_id"] = rows["responses"][0]["event_id"]
    report = validate_tables(as_tables(rows), CONFIG)
    assert report.failed_rows == {
        "invocations": {
            "inv-evt-2": ["invocations.status.in_set", "invocations.latency_ms.non_negative"]
        },
        "responses": {"rsp-0": ["responses.event_id.unique"]},
    }
    unique = next(o for o in report.outcomes if o.name == "responses.event_id.unique")
    assert unique.sample_event_ids == ("rsp-0", "rsp-0")
    assert report.rows_failed == 3  # both members of the duplicate pair


def test_row_without_event_id_is_keyed_by_provenance() -> None:
    report = validate_tables(broken_batch("errors.event_id.not_null"), CONFIG)
    assert report.failed_rows == {"errors": {"null@1:1001": ["errors.event_id.not_null"]}}


def test_split_failed_rows_keeps_the_rest_and_the_schemas() -> None:
    rows = clean_batch()
    rows["metrics"][0]["metric_type"] = "bogus"
    rows["prompts"][1]["event_id"] = rows["prompts"][3]["event_id"]
    tables = as_tables(rows)
    report = validate_tables(tables, CONFIG)
    clean, failed = split_failed_rows(tables, report)
    for name, table in clean.items():
        assert table.schema == TABLE_SCHEMAS[name]
    assert clean["metrics"].column("event_id").to_pylist() == [f"met-evt-{i}" for i in (1, 2, 3)]
    assert clean["prompts"].column("event_id").to_pylist() == ["prm-0", "prm-2"]
    assert clean["invocations"] is tables["invocations"]
    assert {(f.table, f.event_id, f.source_partition, f.source_offset) for f in failed} == {
        ("metrics", "met-evt-0", 0, 1000),
        ("prompts", "prm-3", 1, 1001),
        ("prompts", "prm-3", 0, 1003),
    }
    assert all(f.expectations for f in failed)
    assert sum(t.num_rows for t in clean.values()) + len(failed) == report.rows_checked


def test_split_refuses_tables_the_report_did_not_validate() -> None:
    tables = broken_batch("metrics.metric_type.in_set")
    report = validate_tables(tables, CONFIG)
    tables["metrics"] = tables["metrics"].slice(1)
    with pytest.raises(ValueError, match="metrics"):
        split_failed_rows(tables, report)


def test_failure_share_and_threshold() -> None:
    rows = clean_batch(rows_per_table=10)  # 60 rows
    for i in range(3):
        rows["token_updates"][i]["total_tokens"] = -1  # also breaks the sum rule
    report = validate_tables(as_tables(rows), CONFIG)
    assert report.rows_checked == 60 and report.rows_failed == 3
    assert report.failure_share == pytest.approx(0.05)
    assert report.passed_threshold(CONFIG)  # at the threshold passes
    assert not report.passed_threshold(ValidationConfig(now_ms=NOW_MS, failure_threshold=0.04))
    rows["token_updates"][3]["ts_ms"] = 1
    assert not validate_tables(as_tables(rows), CONFIG).passed_threshold(CONFIG)


def test_empty_tables_are_skipped_and_unknown_tables_refused() -> None:
    tables = as_tables(clean_batch())
    tables["errors"] = TABLE_SCHEMAS["errors"].empty_table()
    report = validate_tables(tables, CONFIG)
    assert "errors" not in report.rows_by_table
    assert not any(o.table == "errors" for o in report.outcomes)
    assert validate_tables({}, CONFIG).failure_share == 0.0
    with pytest.raises(ValueError, match="sessions"):
        validate_tables({"sessions": tables["errors"]}, CONFIG)


def test_bounds_follow_the_config() -> None:
    rows = clean_batch()
    rows["responses"][0]["text_length"] = 101
    rows["invocations"][0]["ts_ms"] = NOW_MS + 2 * 3_600_000  # 2 h ahead
    tables = as_tables(rows)
    assert fired(validate_tables(tables, CONFIG)) == set()
    strict = ValidationConfig(
        now_ms=NOW_MS, max_text_chars=100, future_skew=CONFIG.future_skew / 24
    )
    assert fired(validate_tables(tables, strict)) == {
        "responses.text_length.within_max_chars",
        "invocations.ts_ms.within_window",
    }


def test_an_expectation_that_raises_fails_the_batch() -> None:
    tables = as_tables(clean_batch())
    metrics = tables["metrics"]
    strings = pa.array(["1", "2", "3", "4"])
    value_index = metrics.schema.get_field_index("value")
    tables["metrics"] = metrics.set_column(value_index, "value", strings)
    report = validate_tables(tables, CONFIG)
    broken = [outcome for outcome in report.outcomes if not outcome.success]
    assert [(o.name, o.raised) for o in broken] == [("metrics.value.non_negative", True)]
    assert report.rows_failed == 0
    assert not report.passed_threshold(CONFIG)


def test_config_rejects_a_naive_floor_and_an_impossible_threshold() -> None:
    with pytest.raises(ValueError, match="time zone"):
        ValidationConfig(timestamp_floor=datetime(2020, 1, 1))
    with pytest.raises(ValueError, match="share"):
        ValidationConfig(failure_threshold=5)


def test_gx_runs_with_analytics_off() -> None:
    validate_tables(as_tables(clean_batch()), CONFIG)
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
    suites = _gx_suites()
    assert suites.context.variables.analytics_enabled is False
    assert suites is _gx_suites()  # built once per process, reused by every batch


def test_metadata_is_json_safe_and_carries_no_text() -> None:
    rows = clean_batch()
    rows["prompts"][0]["token_count"] = -5
    rows["responses"][2]["finish_reason"] = "bogus"
    report = validate_tables(as_tables(rows), CONFIG)
    metadata = report.to_metadata()
    encoded = json.dumps(metadata)
    assert SECRET_TEXT not in encoded and "Paris" not in encoded
    assert metadata["rows_failed"] == 2
    assert metadata["failures"]["prompts.token_count.non_negative"]["sample_event_ids"] == ["prm-0"]
    assert set(metadata["failures"]) == {
        "prompts.token_count.non_negative",
        "responses.finish_reason.in_set",
    }
    assert SECRET_TEXT not in repr(report)


def test_prechecks_agree_with_gx_on_a_large_messy_batch() -> None:
    rows = clean_batch(rows_per_table=500)
    broken_per_table: dict[str, int] = {}
    for name, values in BREAKERS.items():
        table = name.split(".", 1)[0]
        count = broken_per_table.get(table, 0)
        broken_per_table[table] = count + 1
        break_row(rows[table], 11 + 10 * count, values)  # odd rows carry token counts
    tables = as_tables(rows)
    report = validate_tables(tables, CONFIG)
    assert fired(report) == EXPECTATION_NAMES
    assert precheck_failed_positions(tables, CONFIG) == report.failed_positions


def test_importing_the_package_does_not_import_gx() -> None:
    code = (
        "import memgraph_pipelines.validation, memgraph_pipelines.validation.prechecks, sys; "
        "assert 'great_expectations' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_context_keeps_no_results_between_batches() -> None:
    for _ in range(3):
        validate_tables(as_tables(clean_batch()), CONFIG)
    assert _gx_suites().context.validation_results_store.list_keys() == []


def test_only_a_failing_table_is_run_again_for_its_row_positions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from memgraph_pipelines.validation import runner

    formats: list[tuple[str, str]] = []
    run_definition = runner._run_definition

    def recording(definition: Any, frame: Any, parameters: dict, result_format: str) -> Any:
        formats.append((definition.name, result_format))
        return run_definition(definition, frame, parameters, result_format)

    monkeypatch.setattr(runner, "_run_definition", recording)
    name = next(n for n in sorted(BREAKERS) if n.startswith("prompts."))
    report = validate_tables(broken_batch(name), CONFIG)
    assert fired(report) == {name}
    assert ("prompts", "COMPLETE") in formats
    assert [table for table, fmt in formats if fmt == "COMPLETE"] == ["prompts"]
    assert {table for table, fmt in formats if fmt == "BOOLEAN_ONLY"} == set(report.rows_by_table)
