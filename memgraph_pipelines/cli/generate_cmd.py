"""`memgraph-pipelines generate`: synthetic Observatory traffic produced to Kafka."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"the event count must be non-negative, got {text}")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="produce realistic synthetic LLM-Observatory events to the telemetry topic",
        description=(
            "Sessions of prompts, invocations, responses, token/latency reports and errors; "
            "v1 and v2 records, snake_case and camelCase keys, late links, exact duplicates, "
            "sensitive and PII texts, and a share of malformed records. Deterministic per seed. "
            "Brokers and credentials come from KAFKA_BROKERS, KAFKA_SECURITY_PROTOCOL, "
            "KAFKA_USERNAME, KAFKA_PASSWORD."
        ),
    )
    parser.add_argument("--events", type=_count, required=True, help="number of records")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--topic", help="target topic (default: OBSERVATORY_TOPIC)")
    parser.add_argument("--sensitive-share", type=_share, default=0.05, metavar="X")
    parser.add_argument("--pii-share", type=_share, default=0.05, metavar="X")
    parser.add_argument("--malformed-share", type=_share, default=0.01, metavar="X")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from memgraph_pipelines.settings import Settings
    from memgraph_pipelines.telemetry.generate import (
        generate_events,
        produce_events,
        tally_generated,
    )

    settings = Settings.from_env()
    topic = args.topic or settings.observatory_topic
    connection = settings.kafka_connection()
    tally = {"malformed": 0, "duplicates": 0}

    events = generate_events(
        args.events,
        seed=args.seed,
        sensitive_share=args.sensitive_share,
        pii_share=args.pii_share,
        malformed_share=args.malformed_share,
    )
    started = time.perf_counter()
    try:
        sent = produce_events(
            connection.base_config(),
            topic,
            tally_generated(events, tally),
            progress=not args.no_progress,
            total=args.events,
        )
    except Exception as exc:  # a Kafka failure ends the command with a message, not a trace
        print(f"generate failed: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    rate = sent / elapsed if elapsed > 0 else float("inf")
    print(
        f"produced {sent} events to {topic} at {settings.kafka_brokers} (seed {args.seed}; "
        f"{tally['malformed']} malformed, {tally['duplicates']} duplicates) "
        f"in {elapsed:.2f}s, {rate:,.0f} events/s"
    )
    return 0
