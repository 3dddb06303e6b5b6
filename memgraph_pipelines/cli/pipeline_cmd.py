"""`catch-up` and `backfill`: batches run in-process against DAGSTER_HOME."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime


def _iso_ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give an offset, e.g. 2026-11-30T09:00:00Z")
    return int(moment.timestamp() * 1000)


def _print_batch(outcome) -> None:
    dead = sum(outcome.dead_lettered.values())
    state = "ok" if outcome.success else "FAILED"
    if outcome.failed_checks:
        state = f"HELD by {', '.join(outcome.failed_checks)}"
    print(
        f"batch {outcome.key}: {state} read={outcome.read} loaded={outcome.loaded} "
        f"duplicates={outcome.duplicates} dead_lettered={dead} ({outcome.seconds:.1f}s)",
        file=sys.stderr,
    )


def _finish(totals) -> int:
    print(json.dumps(totals.as_json(), sort_keys=True))
    return 1 if totals.failed else 0


def _catch_up(args: argparse.Namespace) -> int:
    from memgraph_pipelines.inprocess import catch_up
    from memgraph_pipelines.settings import Settings

    totals = catch_up(
        Settings.from_env(), max_batch_records=args.max_batch_records, on_batch=_print_batch
    )
    return _finish(totals)


def _backfill(args: argparse.Namespace) -> int:
    from memgraph_pipelines.inprocess import backfill
    from memgraph_pipelines.settings import Settings

    if args.end <= args.start:
        print("--end must be after --start", file=sys.stderr)
        return 2
    totals = backfill(
        Settings.from_env(),
        start_ms=args.start,
        end_ms=args.end,
        max_batch_records=args.max_batch_records,
        on_batch=_print_batch,
    )
    return _finish(totals)


def _dagster_home(args: argparse.Namespace) -> int:
    from memgraph_pipelines.inprocess import ensure_dagster_home
    from memgraph_pipelines.settings import Settings

    settings = Settings.from_env()
    ensure_dagster_home(settings)
    print(settings.dagster_home)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    home = subparsers.add_parser(
        "dagster-home", help="Create DAGSTER_HOME with the project's instance settings."
    )
    home.set_defaults(func=_dagster_home)

    catch_up = subparsers.add_parser(
        "catch-up", help="Run every pending batch in-process until there is no lag."
    )
    catch_up.add_argument("--max-batch-records", type=int, default=50_000)
    catch_up.set_defaults(func=_catch_up)

    backfill = subparsers.add_parser(
        "backfill", help="Re-run the records of a time window (Kafka timestamps) as batches."
    )
    backfill.add_argument("--start", type=_iso_ms, required=True, help="ISO-8601, inclusive")
    backfill.add_argument("--end", type=_iso_ms, required=True, help="ISO-8601, exclusive")
    backfill.add_argument("--max-batch-records", type=int, default=50_000)
    backfill.set_defaults(func=_backfill)
