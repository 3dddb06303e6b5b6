"""Where and how the local services run: ports, heaps, paths and the Java binary.

Paths come from ``memgraph_pipelines.settings`` and are read when a config is built (not at
import), so the CLI and tests can point them elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

HEAP_SIZE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")


class ServiceConfigError(ValueError):
    """An environment variable of the services holds an unusable value."""


@dataclass(frozen=True)
class ServiceConfig:
    kafka_port: int
    kafka_controller_port: int
    neo4j_bolt_port: int
    kafka_heap: str
    neo4j_heap: str
    neo4j_pagecache: str
    java: str
    cache_dir: Path
    services_dir: Path
    neo4j_password_file: Path

    @property
    def kafka_dir(self) -> Path:
        return self.services_dir / "kafka"

    @property
    def neo4j_dir(self) -> Path:
        return self.services_dir / "neo4j"

    @property
    def kafka_brokers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def neo4j_uri(self) -> str:
        return f"bolt://127.0.0.1:{self.neo4j_bolt_port}"

    @classmethod
    def from_env(cls) -> ServiceConfig:
        from memgraph_pipelines import settings

        config = cls(
            kafka_port=_port("MEMGRAPH_KAFKA_PORT", 9092),
            kafka_controller_port=_port("MEMGRAPH_KAFKA_CONTROLLER_PORT", 9093),
            neo4j_bolt_port=_port("MEMGRAPH_NEO4J_BOLT_PORT", 7687),
            kafka_heap=_heap("MEMGRAPH_KAFKA_HEAP", "768m"),
            neo4j_heap=_heap("MEMGRAPH_NEO4J_HEAP", "2g"),
            neo4j_pagecache=_heap("MEMGRAPH_NEO4J_PAGECACHE", "1g"),
            java=java_binary(),
            cache_dir=Path(settings.CACHE_DIR),
            services_dir=Path(settings.SERVICES_DIR),
            neo4j_password_file=Path(settings.NEO4J_PASSWORD_FILE),
        )
        ports = [config.kafka_port, config.kafka_controller_port, config.neo4j_bolt_port]
        if len(set(ports)) != len(ports):
            raise ServiceConfigError(f"the three service ports must differ, got {ports}")
        return config


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java`` from PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java") or "java"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        port = int(raw)
    except ValueError:
        raise ServiceConfigError(f"{name}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ServiceConfigError(f"{name}={port} is outside 1-65535")
    return port


def _heap(name: str, default: str) -> str:
    raw = os.environ.get(name) or default
    if not HEAP_SIZE.match(raw):
        raise ServiceConfigError(f"{name}={raw!r} is not a JVM size such as 768m or 1g")
    return raw.lower()
