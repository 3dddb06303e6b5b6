"""Schema migrations of the lineage graph (SPEC §5). Plain module.

Each migration is one idempotent schema statement (``... IF NOT EXISTS``) with a stable name.
Applied names are recorded as ``(:SchemaMigration {id, applied_at})`` nodes, so a second run
applies nothing. A recorded name is never re-run; a statement whose record was lost (the data
was wiped, the schema kept) is re-run harmlessly because it is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import Driver, ManagedTransaction, NotificationMinimumSeverity

from memgraph_pipelines.graph import cypher

#: How long ``apply_migrations`` waits for new indexes to come online.
INDEX_WAIT_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    statement: str


def _unique_id(label: str, name: str) -> str:
    return f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"


def _index(label: str, name: str, properties: str) -> str:
    return f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON ({properties})"


#: Ordered. Never edit or reorder an applied migration: append a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_schema_migration_id_unique",
        _unique_id("SchemaMigration", "schema_migration_id_unique"),
    ),
    Migration("0002_invocation_id_unique", _unique_id("Invocation", "invocation_id_unique")),
    Migration("0003_model_id_unique", _unique_id("Model", "model_id_unique")),
    Migration(
        "0004_model_version_id_unique", _unique_id("ModelVersion", "model_version_id_unique")
    ),
    Migration("0005_prompt_id_unique", _unique_id("Prompt", "prompt_id_unique")),
    Migration("0006_response_id_unique", _unique_id("Response", "response_id_unique")),
    Migration("0007_session_id_unique", _unique_id("Session", "session_id_unique")),
    Migration("0008_user_id_unique", _unique_id("User", "user_id_unique")),
    Migration("0009_error_id_unique", _unique_id("Error", "error_id_unique")),
    Migration(
        "0010_performance_metric_id_unique",
        _unique_id("PerformanceMetric", "performance_metric_id_unique"),
    ),
    Migration(
        "0011_invocation_timestamp",
        _index("Invocation", "invocation_timestamp", "n.timestamp"),
    ),
    Migration(
        "0012_invocation_model_id_timestamp",
        _index("Invocation", "invocation_model_id_timestamp", "n.model_id, n.timestamp"),
    ),
    Migration("0013_model_provider", _index("Model", "model_provider", "n.provider")),
    Migration("0014_prompt_text_hmac", _index("Prompt", "prompt_text_hmac", "n.text_hmac")),
    Migration("0015_session_user_id", _index("Session", "session_user_id", "n.user_id")),
    # FOLLOWED_BY is rebuilt per session: it looks invocations up by session_id.
    Migration(
        "0016_invocation_session_id",
        _index("Invocation", "invocation_session_id", "n.session_id"),
    ),
)


def _applied(tx: ManagedTransaction) -> set[str]:
    return {record["id"] for record in tx.run(cypher.APPLIED_MIGRATIONS)}


def _record(tx: ManagedTransaction, name: str) -> None:
    tx.run(cypher.RECORD_MIGRATION, id=name).consume()


def apply_migrations(driver: Driver, database: str) -> list[str]:
    """Applies the migrations not yet recorded, in order; returns the names newly applied."""
    newly_applied: list[str] = []
    # On a new database the bookkeeping label is unknown: that warning is expected, not news.
    with driver.session(
        database=database, notifications_min_severity=NotificationMinimumSeverity.OFF
    ) as session:
        applied = session.execute_read(_applied)
        for migration in MIGRATIONS:
            if migration.name in applied:
                continue
            # Schema statements cannot share a transaction with writes: auto-commit, then record.
            session.run(migration.statement).consume()
            session.execute_write(_record, migration.name)
            newly_applied.append(migration.name)
        session.run(cypher.AWAIT_INDEXES, timeout_seconds=INDEX_WAIT_SECONDS).consume()
    return newly_applied
