"""The `memgraph-pipelines` console script.

Each command group lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``func`` (called with the parsed arguments, returning an exit code). Heavy
imports stay inside the handlers so that `--help` and `services` start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import io
import sys
from collections.abc import Sequence

#: Command modules, in the order their commands appear in --help.
COMMAND_MODULES = (
    "memgraph_pipelines.cli.services_cmd",
    "memgraph_pipelines.cli.generate_cmd",
    "memgraph_pipelines.cli.pipeline_cmd",
    "memgraph_pipelines.cli.graph_cmd",
    "memgraph_pipelines.cli.dlq_cmd",
    "memgraph_pipelines.cli.bench_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memgraph-pipelines",
        description="Ingestion pipeline for the LLM-Memory-Graph lineage graph.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A crash inside a native client (librdkafka, the Neo4j Rust extension) then still says
    # where the Python side was. Captured output (as in tests) has no descriptor to write to.
    with contextlib.suppress(io.UnsupportedOperation, AttributeError, ValueError):
        faulthandler.enable()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
