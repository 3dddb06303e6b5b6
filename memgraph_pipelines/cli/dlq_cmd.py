"""`dlq show` (triage listing, never commits) and `dlq replay` (pipeline.replay).

A value that was encrypted stays ``<encrypted: N bytes>`` unless ``--decrypt`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

#: The listing reads with its own group id; it never commits, so no group ever records it.
SHOW_GROUP = "memory-graph-dlq-show"
PREVIEW_CHARS = 300


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    dlq_topic: str
    dlq_partition: int
    dlq_offset: int
    dlq_timestamp: str
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    reason: str | None
    detail: str | None
    retry_count: int | None
    encrypted: bool
    value: str
    parked_at: str | None = None


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _preview(value: bytes | None) -> str:
    if value is None:
        return "<null>"
    text = value.decode("utf-8", "replace")
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + f"... ({len(value)} B)"


def _entry(record: Any, kek: Any | None) -> DeadLetterEntry:
    """``kek`` is given only when decryption was asked for."""
    from memgraph_pipelines.kafka.dlq import (
        InvalidDeadLetterError,
        decrypt_dead_letter_value,
        parse_dead_letter,
    )
    from memgraph_pipelines.pipeline.replay import H_PARKED_AT
    from memgraph_pipelines.vault.kek import DecryptionError

    parked = dict(record.headers).get(H_PARKED_AT)
    base = {
        "dlq_topic": record.topic,
        "dlq_partition": record.partition,
        "dlq_offset": record.offset,
        "dlq_timestamp": _iso(record.timestamp_ms),
        "parked_at": parked.decode("utf-8", "replace") if parked else None,
    }
    try:
        h = parse_dead_letter(record.headers)
    except InvalidDeadLetterError as exc:
        # Not a dead letter: nothing says what the value holds, so it is not shown.
        size = len(record.value or b"")
        return DeadLetterEntry(
            **base, original_topic=None, original_partition=None, original_offset=None,
            reason=None, detail=str(exc), retry_count=None, encrypted=False,
            value=f"<unreadable dead letter: {size} bytes>",
        )  # fmt: skip
    value = f"<encrypted: {len(record.value or b'')} bytes>"
    if not h.encrypted:
        value = _preview(record.value)
    elif kek is not None:
        try:
            value = _preview(decrypt_dead_letter_value(record.value, h, kek))
        except DecryptionError:
            value = "<encrypted: does not decrypt with this KEK>"
    return DeadLetterEntry(
        **base, original_topic=h.original_topic, original_partition=h.original_partition,
        original_offset=h.original_offset, reason=h.failure_reason, detail=h.failure_detail,
        retry_count=h.retry_count, encrypted=h.encrypted, value=value,
    )  # fmt: skip


def list_dead_letters(
    connection: Any,
    topic: str,
    *,
    kek: Any | None = None,
    reason: str | None = None,
    limit: int = 50,
    from_group: str | None = None,
) -> list[DeadLetterEntry]:
    """Up to ``limit`` messages of ``topic`` (after ``from_group``'s committed offsets, else
    from the low watermarks), optionally only those of one failure reason."""
    from memgraph_pipelines.kafka.client import read_batch
    from memgraph_pipelines.kafka.ranges import BatchSpec
    from memgraph_pipelines.pipeline.replay import pending_ranges

    ranges = pending_ranges(connection, topic, from_group or SHOW_GROUP)
    if not ranges or limit <= 0:
        return []
    entries: list[DeadLetterEntry] = []
    with contextlib.closing(read_batch(connection, SHOW_GROUP, BatchSpec(topic, ranges))) as read:
        for chunk in read:
            for record in chunk:
                entry = _entry(record, kek)
                if reason is None or entry.reason == reason:
                    entries.append(entry)
                if len(entries) >= limit:
                    return entries
    return entries


def _print_entry(e: DeadLetterEntry) -> None:
    origin = f"{e.original_topic}[{e.original_partition}]@{e.original_offset}"
    parked = f" parked_at={e.parked_at}" if e.parked_at else ""
    print(
        f"{e.dlq_topic}[{e.dlq_partition}]@{e.dlq_offset} {e.dlq_timestamp} original={origin} "
        f"reason={e.reason} retries={e.retry_count} encrypted={'yes' if e.encrypted else 'no'}"
        f"{parked}\n    detail: {e.detail}\n    value:  {e.value}"
    )


def _show(args: argparse.Namespace) -> int:
    from memgraph_pipelines.pipeline.replay import REPLAY_GROUP
    from memgraph_pipelines.settings import Settings, dlq_topic, parked_topic
    from memgraph_pipelines.vault.kek import make_kek

    settings = Settings.from_env()
    source = settings.observatory_topic
    topic = parked_topic(source) if args.parked else dlq_topic(source)
    entries = list_dead_letters(
        settings.kafka_connection(),
        topic,
        kek=make_kek(settings) if args.decrypt else None,
        reason=args.reason,
        limit=args.limit,
        from_group=None if args.all or args.parked else REPLAY_GROUP,
    )
    for entry in entries:
        if args.json:
            print(json.dumps(asdict(entry), sort_keys=True))
        else:
            _print_entry(entry)
    return 0


def _replay(args: argparse.Namespace) -> int:
    import neo4j

    from memgraph_pipelines.pipeline.replay import (
        ReplayFilter,
        ReplayOptions,
        ReplayTargets,
        replay_dead_letters,
    )
    from memgraph_pipelines.settings import Settings
    from memgraph_pipelines.validation.suite import ValidationConfig
    from memgraph_pipelines.vault.kek import load_hmac_secret, make_kek
    from memgraph_pipelines.vault.store import make_vault_store

    s = Settings.from_env()
    options = ReplayOptions(
        filter=ReplayFilter(args.reason, args.since),
        max_retries=args.max_retries,
        chunk_size=args.chunk_size,
        validation=ValidationConfig() if args.validate else None,
    )
    auth = (s.neo4j_username, s.neo4j_password or "")
    with neo4j.GraphDatabase.driver(s.neo4j_uri, auth=auth) as driver:
        targets = ReplayTargets(
            connection=s.kafka_connection(),
            driver=driver,
            database=s.neo4j_database,
            kek=make_kek(s),
            store=make_vault_store(s),
            hmac_secret=load_hmac_secret(s),
        )
        summary = replay_dead_letters(s.observatory_topic, targets, options)
    print(json.dumps(summary.as_json(), sort_keys=True))
    return 0


def _since(text: str) -> int:
    from memgraph_pipelines.pipeline.replay import iso_to_ms

    try:
        return iso_to_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    dlq = subparsers.add_parser("dlq", help="The dead-letter topic: triage and replay.")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)

    show = actions.add_parser("show", help="List dead letters (read only, nothing committed).")
    show.add_argument("--reason", help="only this x-failure-reason")
    show.add_argument("--limit", type=int, default=50)
    show.add_argument("--decrypt", action="store_true", help="show encrypted values in clear")
    show.add_argument("--all", action="store_true", help="include those already replayed")
    show.add_argument("--parked", action="store_true", help="list the parked topic instead")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.set_defaults(func=_show)

    replay = actions.add_parser(
        "replay", help="Re-decode and load what is valid now; dead-letter the rest again."
    )
    replay.add_argument("--reason", help="only this x-failure-reason")
    replay.add_argument("--since", type=_since, help="only DLQ timestamps >= this ISO-8601 time")
    replay.add_argument("--max-retries", type=int, default=3, help="then parked (default 3)")
    replay.add_argument("--chunk-size", type=int, default=5000)
    replay.add_argument("--no-validate", dest="validate", action="store_false")
    replay.set_defaults(func=_replay)
