"""Every Cypher query of the graph side, as named constants. Plain module.

Values always travel as parameters (``$rows``, ``$ids``, ``$batch_key`` ...); labels, relationship
types and property names are fixed here. Timestamps arrive as epoch milliseconds and are stored as
DateTime values. The rules these queries implement are described in ``graph.loader``.
"""

from __future__ import annotations

# --- schema migrations ------------------------------------------------------------------------

APPLIED_MIGRATIONS = "MATCH (m:SchemaMigration) RETURN m.id AS id"

RECORD_MIGRATION = """
MERGE (m:SchemaMigration {id: $id})
ON CREATE SET m.applied_at = datetime()
"""

AWAIT_INDEXES = "CALL db.awaitIndexes($timeout_seconds)"

# --- summary and counts -----------------------------------------------------------------------

#: The count store: per-label node counts and per-type relationship counts, no scan.
GRAPH_COUNTS = "CALL db.stats.retrieve('GRAPH COUNTS') YIELD data RETURN data"


def _ranked(prop: str, wins: str) -> str:
    """``prop`` from the winning side when it has one, else from the other side."""
    return (
        f"i.{prop} = CASE WHEN {wins} THEN coalesce(row.{prop}, i.{prop}) "
        f"ELSE coalesce(i.{prop}, row.{prop}) END"
    )


#: Invocation properties that follow the status rank (is_final, ts_ms, event_id).
STATUS_RANKED_PROPERTIES = (
    "status",
    "model_id",
    "provider",
    "session_id",
    "user_id",
    "token_count",
    "latency_ms",
    "cost_usd",
    "trace_id",
    "span_id",
    "parent_span_id",
    "prompt_event_id",
    "response_event_id",
    "source_partition",
    "source_offset",
)

#: Invocation properties that follow the token rank (ts_ms, event_id).
TOKEN_RANKED_PROPERTIES = ("prompt_tokens", "completion_tokens")

_STATUS_SET = ",\n      ".join(_ranked(p, "wins") for p in STATUS_RANKED_PROPERTIES)
_TOKENS_SET = ",\n      ".join(_ranked(p, "tokens_win") for p in TOKEN_RANKED_PROPERTIES)

# --- nodes and their links ---------------------------------------------------------------------

MERGE_MODELS = """
UNWIND $rows AS row
MERGE (m:Model {id: row.id})
SET m.provider = coalesce(m.provider, row.provider)
"""

#: One row per session (aggregated per batch): min/max keep the result order-independent.
MERGE_SESSIONS = """
UNWIND $rows AS row
MERGE (s:Session {id: row.id})
WITH s, row,
     datetime({epochMillis: row.first_ms}) AS first_seen,
     datetime({epochMillis: row.last_ms}) AS last_seen
SET s.user_id = coalesce(s.user_id, row.user_id),
    s.application_id = coalesce(s.application_id, row.application_id),
    s.purpose = coalesce(s.purpose, row.purpose),
    s.started_at = CASE WHEN s.started_at IS NULL OR first_seen < s.started_at
                        THEN first_seen ELSE s.started_at END,
    s.last_seen_at = CASE WHEN s.last_seen_at IS NULL OR last_seen > s.last_seen_at
                          THEN last_seen ELSE s.last_seen_at END
"""

MERGE_USERS = """
UNWIND $rows AS row
MERGE (u:User {id: row.id})
WITH u, datetime({epochMillis: row.first_ms}) AS first_seen
SET u.first_seen_at = CASE WHEN u.first_seen_at IS NULL OR first_seen < u.first_seen_at
                           THEN first_seen ELSE u.first_seen_at END
"""

#: The links of an Invocation, from its stored (winning) properties. A link to a value that
#: lost is removed, so the edges end the same whatever order the events came in; the sessions
#: an invocation left are returned: their FOLLOWED_BY chains must be rebuilt too.
_INVOCATION_LINKS = """
CALL (i) {
  OPTIONAL MATCH (i)-[r:USES_MODEL|PART_OF|HAS_PROMPT|PRODUCED]->(x)
  WHERE x.id <> CASE type(r)
                   WHEN 'USES_MODEL' THEN i.model_id
                   WHEN 'PART_OF' THEN i.session_id
                   WHEN 'HAS_PROMPT' THEN i.prompt_event_id
                   ELSE i.response_event_id END
  DELETE r
  RETURN collect(CASE WHEN x:Session THEN x.id END) AS left_sessions
}
CALL (i) {
  WITH i WHERE i.model_id IS NOT NULL
  MERGE (m:Model {id: i.model_id})
  MERGE (i)-[:USES_MODEL]->(m)
}
CALL (i) {
  WITH i WHERE i.session_id IS NOT NULL
  MATCH (s:Session {id: i.session_id})
  MERGE (i)-[:PART_OF]->(s)
}
CALL (i) {
  WITH i WHERE i.prompt_event_id IS NOT NULL
  MERGE (p:Prompt {id: i.prompt_event_id})
  ON CREATE SET p.placeholder = true
  MERGE (i)-[:HAS_PROMPT]->(p)
}
CALL (i) {
  WITH i WHERE i.response_event_id IS NOT NULL
  MERGE (r:Response {id: i.response_event_id})
  ON CREATE SET r.placeholder = true
  MERGE (i)-[:PRODUCED]->(r)
}
UNWIND left_sessions AS session_id
RETURN DISTINCT session_id
"""

#: One row per invocation and batch (``graph.rows`` folds a batch's events of one invocation),
#: merged with what earlier batches stored by the same ranks, then linked.
UPSERT_INVOCATIONS = (
    f"""
UNWIND $rows AS row
MERGE (i:Invocation {{id: row.id}})
WITH i, row,
     row.status_rank > coalesce(i.status_rank, '') AS wins,
     row.tokens_rank IS NOT NULL AND row.tokens_rank > coalesce(i.tokens_rank, '') AS tokens_win,
     datetime({{epochMillis: row.ts_ms}}) AS event_time
SET {_STATUS_SET},
    {_TOKENS_SET},
    i.source_topic = CASE WHEN wins THEN $source_topic
                          ELSE coalesce(i.source_topic, $source_topic) END,
    i.timestamp = CASE WHEN i.timestamp IS NULL OR event_time < i.timestamp
                       THEN event_time ELSE i.timestamp END,
    i.batch_key = coalesce(i.batch_key, $batch_key),
    i.ingested_at = coalesce(i.ingested_at, datetime({{epochMillis: $ingested_at_ms}})),
    i.status_rank = CASE WHEN wins THEN row.status_rank ELSE i.status_rank END,
    i.tokens_rank = CASE WHEN tokens_win THEN row.tokens_rank ELSE i.tokens_rank END
REMOVE i.placeholder
WITH i
"""
    + _INVOCATION_LINKS
)

#: One row per llm.tokens.consumed event (its invocation may not be loaded yet).
UPSERT_TOKEN_UPDATES = f"""
UNWIND $rows AS row
CALL (row) {{
  MERGE (i:Invocation {{id: row.id}})
  ON CREATE SET i.placeholder = true
  WITH i, row, row.tokens_rank > coalesce(i.tokens_rank, '') AS tokens_win
  SET {_TOKENS_SET},
      i.tokens_rank = CASE WHEN tokens_win THEN row.tokens_rank ELSE i.tokens_rank END
}}
"""

#: ``row.props`` holds every property of the event; a null value removes the property, so a
#: node never keeps both ``text`` and ``content_ref``. A prompt joins its session, and the
#: responses already generated from it join it too (whichever of the prompt and the response
#: loads last makes the Response PART_OF link).
UPSERT_PROMPTS = """
UNWIND $rows AS row
MERGE (p:Prompt {id: row.id})
SET p += row.props, p.timestamp = datetime({epochMillis: row.ts_ms})
REMOVE p.placeholder
WITH p, row
MATCH (s:Session {id: row.session_id})
MERGE (p)-[:PART_OF]->(s)
WITH p, s
CALL (p, s) {
  MATCH (p)-[:GENERATED]->(r:Response)
  MERGE (r)-[:PART_OF]->(s)
}
"""

UPSERT_RESPONSES = """
UNWIND $rows AS row
MERGE (r:Response {id: row.id})
SET r += row.props, r.timestamp = datetime({epochMillis: row.ts_ms})
REMOVE r.placeholder
WITH r, row
MERGE (p:Prompt {id: row.prompt_event_id})
ON CREATE SET p.placeholder = true
MERGE (p)-[:GENERATED]->(r)
WITH p, r
CALL (p, r) {
  MATCH (p)-[:PART_OF]->(s:Session)
  MERGE (r)-[:PART_OF]->(s)
}
"""

UPSERT_ERRORS = """
UNWIND $rows AS row
MERGE (e:Error {id: row.id})
SET e += row.props, e.timestamp = datetime({epochMillis: row.ts_ms})
WITH e, row
WHERE row.invocation_id IS NOT NULL
MERGE (i:Invocation {id: row.invocation_id})
ON CREATE SET i.placeholder = true
MERGE (i)-[:CAUSED_ERROR]->(e)
"""

UPSERT_METRICS = """
UNWIND $rows AS row
MERGE (m:PerformanceMetric {id: row.id})
SET m += row.props, m.timestamp = datetime({epochMillis: row.ts_ms})
WITH m, row
MERGE (i:Invocation {id: row.invocation_id})
ON CREATE SET i.placeholder = true
MERGE (i)-[:HAS_METRIC]->(m)
"""

# --- relationships ----------------------------------------------------------------------------

#: Planned on a near-empty graph, this took 5 s for a 50,000-record batch instead of 0.06 s
#: until Neo4j replanned: the hints keep both lookups index seeks.
LINK_SESSION_USERS = """
UNWIND $ids AS id
MATCH (s:Session {id: id})
USING INDEX SEEK s:Session(id)
WHERE s.user_id IS NOT NULL
MATCH (u:User {id: s.user_id})
USING INDEX SEEK u:User(id)
MERGE (s)-[:INITIATED_BY]->(u)
"""

#: Rebuilds the FOLLOWED_BY chain of each session: consecutive non-placeholder invocations by
#: (timestamp, id). Missing edges are merged, edges that are no longer consecutive deleted.
RELINK_FOLLOWED_BY = """
UNWIND $ids AS session_id
CALL (session_id) {
  MATCH (i:Invocation {session_id: session_id})
  // Planned while index samples lag behind a fast-growing graph, this scanned the whole
  // index for every session (37M rows for one chunk): the hint keeps it a seek.
  USING INDEX SEEK i:Invocation(session_id)
  WHERE i.placeholder IS NULL AND i.timestamp IS NOT NULL
  WITH i ORDER BY i.timestamp, i.id
  WITH collect(i) AS chain
  UNWIND range(0, size(chain) - 1) AS k
  WITH chain[k] AS current,
       CASE WHEN k > 0 THEN chain[k - 1] END AS previous,
       CASE WHEN k + 1 < size(chain) THEN chain[k + 1] END AS next
  CALL (current, next) {
    MATCH (current)-[old:FOLLOWED_BY]->(other)
    WHERE next IS NULL OR other <> next
    DELETE old
  }
  CALL (current, previous) {
    MATCH (other)-[old:FOLLOWED_BY]->(current)
    WHERE previous IS NULL OR other <> previous
    DELETE old
  }
  CALL (current, next) {
    WITH current, next WHERE next IS NOT NULL
    MERGE (current)-[f:FOLLOWED_BY]->(next)
    SET f.gap_ms = next.timestamp.epochMillis - current.timestamp.epochMillis
  }
}
"""
