"""The code location: what it defines, that it loads without the heavy imports, and that
`dagster definitions validate` accepts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

ROOT = Path(__file__).resolve().parent.parent


def test_definitions_snapshot() -> None:
    from memgraph_pipelines.definitions import defs

    repo = defs.get_repository_def()
    assert {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()} == {
        "observatory_batch",
        "observatory_graph",
    }
    checks = {c.name for c in repo.asset_graph.asset_check_keys}
    assert checks == {"observatory_batch_valid"}
    assert {s.name for s in repo.sensor_defs} == {"observatory_kafka_sensor"}
    assert {s.name for s in repo.schedule_defs} == {"dlq_replay_hourly"}
    assert {"observatory_ingestion", "dlq_replay"} <= {j.name for j in repo.get_all_jobs()}
    graph = repo.asset_graph.get(AssetKey("observatory_graph"))
    assert graph.partitions_def is not None
    assert set(defs.resources) >= {"kafka", "neo4j", "vault", "ingestion", "staging_io_manager"}


def test_loading_definitions_imports_no_gx() -> None:
    code = (
        "import sys, memgraph_pipelines.definitions as d; d.defs.get_repository_def(); "
        "assert 'great_expectations' not in sys.modules, 'GX imported at load'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_secrets_are_env_vars_not_values(monkeypatch) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-value-for-test")
    monkeypatch.setenv("KAFKA_PASSWORD", "kafka-s3cret-for-test")
    from memgraph_pipelines.definitions import build_resources

    resources = build_resources()
    neo4j_config = repr(resources["neo4j"].__dict__)
    kafka_config = repr(resources["kafka"].__dict__)
    assert "s3cret-value-for-test" not in neo4j_config
    assert "kafka-s3cret-for-test" not in kafka_config
    assert "NEO4J_PASSWORD" in neo4j_config


def test_dagster_definitions_validate(tmp_path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            str(ROOT / "workspace.yaml"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
