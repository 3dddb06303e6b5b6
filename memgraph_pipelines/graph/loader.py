"""Bulk load of one staged batch into the lineage graph (SPEC §5). Plain module.

A batch is loaded as a fixed sequence of steps, each a chunked ``UNWIND $rows`` query run in
managed write transactions (``session.execute_write``: the driver retries transient errors;
``graph.deadlocks`` retries a deadlock sooner). Each step merges one kind of node and the
links it owns, in an order where every node a link needs is merged first (or made a
placeholder). Every step is idempotent and order-independent, so a re-run of any batch, in any
order, or after a failure part-way, ends in the same graph.

Rules (where SPEC §5 leaves a choice):

- Invocation: events sharing an invocation key fold into one node (and into one row per
  batch). ``status`` and the other event properties come from the event of highest rank
  (is_final, ts_ms, event_id), with is_final = status <> 'started'; a property the winner lacks
  is taken from the next-ranked event of the batch that has it, then from the node.
  The rank is kept as ``status_rank``. ``prompt_tokens``/``completion_tokens`` come from the
  latest (ts_ms, event_id) invocation or llm.tokens.consumed event that has them (kept as
  ``tokens_rank``); ``total_tokens`` of a tokens event is not stored (``token_count`` follows the
  invocation events). ``timestamp`` is the earliest event's time (the start). Provenance:
  ``source_topic/source_partition/source_offset`` of the winning event; ``batch_key`` and
  ``ingested_at`` are first-load-wins, so replays and backfills change nothing.
- Links of an Invocation (USES_MODEL, PART_OF, HAS_PROMPT, PRODUCED) follow its stored winning
  properties; a link to a losing value is removed.
- Placeholders: a Prompt, Response or Invocation created only because another record names it
  gets ``placeholder: true``; its own event removes the flag.
- Model nodes from invocations and prompts (id, provider set only when unknown: the Registry
  owns Model properties). Session: ``started_at`` = min, ``last_seen_at`` = max of the events
  naming it; ``user_id``, ``application_id``, ``purpose`` are set once (earliest event of the
  first batch naming them). User: ``first_seen_at`` = min.
- A Response joins its prompt's Session (PART_OF), made by whichever of the two loads last.
- FOLLOWED_BY {gap_ms}: consecutive non-placeholder invocations of a session by (timestamp, id),
  rebuilt for every session the batch touches or an invocation left (missing edges merged,
  stale ones deleted).
- Errors name the failing step and chunk and the server's error code, never a row value.

Parallel writers: a step's rows are split by a partition key (their Session for prompts,
responses, invocations and chains; their Invocation for token updates, errors and metrics; the
User for Session->User links) among ``writers`` sessions. The steps run in phases (``PHASES``):
within one, each writer runs its rows of every step in turn, not waiting for the others between
steps, which the keys allow (a prompt finds its Session in its own writer's rows); the next
phase starts when every writer is done. Rows that share a key never meet in two concurrent
transactions; what writers still share (a Model, another writer's Session) is waited for, or in
a rare deadlock retried at once (``graph.deadlocks``). Every step is order-independent, so the
graph is the same as from one writer. On 2 cores two writers loaded the benchmark's prebuilt
200,000 events 1.35-1.4 times as fast as one (three or four: slower than two), and phases
instead of a wait after every step took it 6 % further.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from neo4j import Driver, ManagedTransaction
from neo4j.exceptions import DriverError, Neo4jError

from memgraph_pipelines.graph import cypher
from memgraph_pipelines.graph.deadlocks import execute_write
from memgraph_pipelines.graph.rows import BatchRows, build_rows

#: Fastest of 2,000, 5,000 and 10,000 in the benchmark's sweep (`memgraph-pipelines bench`).
DEFAULT_CHUNK_SIZE = 2000
#: Sessions writing a step's partitions side by side (see above).
DEFAULT_WRITERS = 2
#: The steps by phase (see above); the FOLLOWED_BY rebuild is a last phase of its own.
PHASES: tuple[tuple[str, ...], ...] = (
    ("models", "users"),
    ("sessions", "prompts", "responses", "invocations"),
    ("token_updates", "errors", "metrics", "session_links"),
)


class GraphLoadError(RuntimeError):
    """A load step failed permanently (after the driver's retries)."""

    def __init__(self, step: str, chunk: int, reason: str) -> None:
        super().__init__(f"graph load failed at step {step!r}, chunk {chunk}: {reason}")
        self.step = step
        self.chunk = chunk


@dataclass
class LoadStats:
    #: Input rows per staged table.
    table_rows: dict[str, int] = field(default_factory=dict)
    #: Parameter rows sent per step.
    step_rows: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    transactions: int = 0
    seconds: float = 0.0

    @property
    def events(self) -> int:
        return sum(self.table_rows.values())

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


#: The key that keeps related rows in one writer's group, from a row (None: one writer).
PartitionKey = Callable[[Any], Hashable]


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    query: str
    #: Parameter name of the list the query unwinds.
    param: str
    items: Sequence[Any]
    partition: PartitionKey | None = None


def _by_invocation(row: dict[str, Any]) -> Hashable:
    return row.get("invocation_id") or row["id"]


def _steps(rows: BatchRows) -> list[_Step]:
    prompt_sessions = {row["id"]: row["session_id"] for row in rows.prompts}
    session_users = {row["id"]: row["user_id"] for row in rows.sessions}
    return [
        _Step("models", cypher.MERGE_MODELS, "rows", rows.models),
        _Step("sessions", cypher.MERGE_SESSIONS, "rows", rows.sessions, lambda r: r["id"]),
        _Step("users", cypher.MERGE_USERS, "rows", rows.users),
        # Prompts and responses before the invocations that name them: no placeholder is
        # made for a node the same batch brings.
        _Step("prompts", cypher.UPSERT_PROMPTS, "rows", rows.prompts, lambda r: r["session_id"]),
        _Step(
            "responses",
            cypher.UPSERT_RESPONSES,
            "rows",
            rows.responses,
            lambda r: prompt_sessions.get(r["prompt_event_id"], r["prompt_event_id"]),
        ),
        _Step(
            "invocations",
            cypher.UPSERT_INVOCATIONS,
            "rows",
            rows.invocations,
            lambda r: r["session_id"] or r["id"],
        ),
        _Step(
            "token_updates", cypher.UPSERT_TOKEN_UPDATES, "rows", rows.token_updates, _by_invocation
        ),
        _Step("errors", cypher.UPSERT_ERRORS, "rows", rows.errors, _by_invocation),
        _Step("metrics", cypher.UPSERT_METRICS, "rows", rows.metrics, _by_invocation),
        _Step(
            "session_links",
            cypher.LINK_SESSION_USERS,
            "ids",
            rows.session_ids,
            lambda session_id: session_users.get(session_id) or session_id,
        ),
    ]


class ParameterRows(list[Any]):
    """A chunk of parameter rows whose repr gives only its length. The driver formats every
    query's parameters for its debug log even when that log is off: 7 ms of the loader's
    critical path for 2,000 invocation rows, and row values have no place in a log."""

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def _run_chunk(tx: ManagedTransaction, query: str, params: dict[str, Any]) -> list[Any]:
    """Runs one chunk; returns the first column of what the query returns (if anything)."""
    return [record[0] for record in tx.run(query, params)]


def _lanes(step: _Step, writers: int) -> list[list[Any]]:
    """The step's rows of each writer (one list per writer, maybe empty), split by partition
    key; a step without a key is the first writer's alone."""
    lanes: list[list[Any]] = [[] for _ in range(writers)]
    if step.partition is None or writers < 2:
        lanes[0] = list(step.items)
        return lanes
    for item in step.items:
        # crc32, not hash(): the same row goes to the same writer in every process.
        lanes[zlib.crc32(str(step.partition(item)).encode()) % writers].append(item)
    return lanes


@dataclass(frozen=True, slots=True)
class _Load:
    """What every step of one batch's load shares."""

    driver: Driver
    database: str
    chunk_size: int
    writers: int
    batch_params: dict[str, Any]
    on_transaction: Callable[[str, int], None] | None
    pool: ThreadPoolExecutor


def _run_group(load: _Load, step: _Step, group: list[Any], first_chunk: int) -> list[Any]:
    returned: list[Any] = []
    with load.driver.session(database=load.database) as session:
        for offset, start in enumerate(range(0, len(group), load.chunk_size)):
            chunk = ParameterRows(group[start : start + load.chunk_size])
            params = {**load.batch_params, step.param: chunk}
            try:
                returned += execute_write(session, _run_chunk, step.query, params)
            except Neo4jError as exc:
                # The server's message may quote values; the code says enough.
                code = exc.code or type(exc).__name__
                raise GraphLoadError(step.name, first_chunk + offset, code) from None
            except DriverError as exc:
                raise GraphLoadError(step.name, first_chunk + offset, type(exc).__name__) from None
            if load.on_transaction is not None:
                load.on_transaction(step.name, len(chunk))
    return returned


def _chunks(rows: Sequence[Any], chunk_size: int) -> int:
    return -(-len(rows) // chunk_size)


def _run_phase(load: _Load, steps: list[_Step], stats: LoadStats) -> dict[str, list[Any]]:
    """Each writer runs its rows of every step in turn, not waiting for the others between
    steps; the phase ends when all have. Returns what each step's query returned."""
    lanes = [_lanes(step, load.writers) for step in steps]

    def run_lane(writer: int) -> tuple[dict[str, list[Any]], dict[str, float]]:
        returned: dict[str, list[Any]] = {}
        seconds: dict[str, float] = {}
        for step, rows_by_writer in zip(steps, lanes, strict=True):
            if rows := rows_by_writer[writer]:
                # Chunks are numbered through the step: this writer's follow the ones before.
                first = sum(_chunks(r, load.chunk_size) for r in rows_by_writer[:writer])
                started = time.perf_counter()
                returned[step.name] = _run_group(load, step, rows, first)
                seconds[step.name] = time.perf_counter() - started
        return returned, seconds

    busy = [w for w in range(load.writers) if any(rows[w] for rows in lanes)]
    if len(busy) < 2:
        results = [run_lane(writer) for writer in busy]
    else:
        # A failure is raised once load_batch's pool has shut down: no write is left in flight.
        futures = [load.pool.submit(run_lane, writer) for writer in busy]
        results = [future.result() for future in futures]
    for step, rows_by_writer in zip(steps, lanes, strict=True):
        stats.transactions += sum(_chunks(rows, load.chunk_size) for rows in rows_by_writer)
        stats.step_rows[step.name] = len(step.items)
        # The step's share of the phase: its longest writer's time on it.
        stats.step_seconds[step.name] = max(
            (t.get(step.name, 0.0) for _, t in results), default=0.0
        )
    return {
        step.name: [value for returned, _ in results for value in returned.get(step.name, [])]
        for step in steps
    }


def load_batch(
    driver: Driver,
    database: str,
    tables: dict[str, pa.Table],
    *,
    source_topic: str,
    batch_key: str,
    ingested_at_ms: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    writers: int = DEFAULT_WRITERS,
    on_transaction: Callable[[str, int], None] | None = None,
) -> LoadStats:
    """Loads the staged tables of one batch; ``on_transaction(step, rows)`` after each commit
    (from the writer's thread)."""
    if chunk_size < 1 or writers < 1:
        raise ValueError("chunk_size and writers must be at least 1")
    started = time.perf_counter()
    stats = LoadStats(table_rows={name: table.num_rows for name, table in tables.items()})
    rows = build_rows(tables)
    batch_params = {
        "source_topic": source_topic,
        "batch_key": batch_key,
        "ingested_at_ms": ingested_at_ms,
    }
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="graph-writer") as pool:
        load = _Load(driver, database, chunk_size, writers, batch_params, on_transaction, pool)
        steps = {step.name: step for step in _steps(rows)}
        left_sessions: list[str] = []
        for phase in PHASES:
            returned = _run_phase(load, [steps[name] for name in phase], stats)
            left_sessions += returned.get("invocations", [])
        # Last: the chains of every session the batch touched, or that an invocation left.
        relink = list(dict.fromkeys([*rows.followed_by_session_ids, *left_sessions]))
        followed_by = _Step("followed_by", cypher.RELINK_FOLLOWED_BY, "ids", relink, lambda r: r)
        _run_phase(load, [followed_by], stats)
    stats.seconds = time.perf_counter() - started
    return stats
