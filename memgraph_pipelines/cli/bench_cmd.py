"""`memgraph-pipelines bench`: the end-to-end benchmark (docs/benchmark.md).

The harness lives in the checkout's `benchmarks/` directory, beside the package: this command
puts the checkout root on the import path and calls it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1, got {text}")
    return value


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    parse.__name__ = "integer"  # argparse names it in "invalid integer value: 'x'"
    return parse


_positive = _at_least(1)


def _chunk_sizes(text: str) -> tuple[int, ...]:
    return tuple(_positive(part) for part in text.split(",") if part.strip())


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark the pipeline against a ceiling and two baselines (WIPES the graph)",
        description=(
            "Produces N generated events to a fresh 12-partition topic (deleted after), empties "
            "the Neo4j database of NEO4J_URI/NEO4J_DATABASE, and measures: the pipeline end to "
            "end (catch-up), the loader alone on prebuilt rows, a per-event MERGE consumer and "
            "a connector-style sink. Writes JSON, Markdown and PNG to benchmarks/results/ and "
            "prints the headline numbers as JSON on its last line."
        ),
    )
    parser.add_argument("--events", type=_positive, required=True, help="records to generate")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--sensitive-share", type=_share, default=0.05, metavar="X")
    parser.add_argument("--pii-share", type=_share, default=0.05, metavar="X")
    parser.add_argument("--malformed-share", type=_share, default=0.01, metavar="X")
    parser.add_argument(
        "--chunk-sizes",
        type=_chunk_sizes,
        default=(2000, 5000, 10000),
        metavar="A,B,C",
        help="loader chunk sizes for the ceiling (default 2000,5000,10000)",
    )
    parser.add_argument("--per-event-sample", type=_positive, default=10_000, metavar="N")
    parser.add_argument("--per-event-seconds", type=float, default=30.0, metavar="S")
    parser.add_argument(
        "--connector-events", type=_positive, default=None, metavar="N", help="default: all"
    )
    parser.add_argument(
        "--skip-baselines",
        action="store_true",
        help="backlog mode: only sensor tick time, the pipeline and its peak RSS",
    )
    parser.add_argument("--sensor-ticks", type=_positive, default=5, metavar="K")
    parser.add_argument(
        "--sensor-history",
        type=_at_least(0),
        default=None,
        metavar="N",
        help="batches registered before the sensor ticks (default: two weeks' worth)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=3,
        metavar="K",
        help="times each measurement runs, round after round; the medians are reported",
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temp directory")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    parser.set_defaults(func=run_bench)


def _import_harness() -> Any:
    from memgraph_pipelines.settings import PROJECT_ROOT

    if not (PROJECT_ROOT / "benchmarks" / "harness.py").is_file():
        raise ImportError(f"no benchmarks/ directory in {PROJECT_ROOT}: bench needs a checkout")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    import benchmarks.harness
    import benchmarks.report

    return benchmarks


def run_bench(args: argparse.Namespace) -> int:
    try:
        benchmarks = _import_harness()
    except ImportError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    from benchmarks.workload import EventShares

    options = benchmarks.harness.BenchOptions(
        events=args.events,
        seed=args.seed,
        shares=EventShares(args.sensitive_share, args.pii_share, args.malformed_share),
        chunk_sizes=args.chunk_sizes,
        per_event_sample=args.per_event_sample,
        per_event_max_seconds=args.per_event_seconds,
        connector_events=args.connector_events,
        skip_baselines=args.skip_baselines,
        sensor_ticks=args.sensor_ticks,
        **({} if args.sensor_history is None else {"sensor_history": args.sensor_history}),
        keep_workdir=args.keep_workdir,
        rounds=args.rounds,
    )

    def log(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    try:
        results = benchmarks.harness.run_benchmark(options, log=log)
    except Exception as exc:  # a service failure ends the command with a message, not a trace
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    paths = benchmarks.report.write_reports(results, chart=not args.no_chart)
    print(benchmarks.report.markdown(results))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    print(json.dumps(results["summary"], sort_keys=True))
    return 0
