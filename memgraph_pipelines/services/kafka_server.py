"""The local Apache Kafka broker: one KRaft node that is both broker and controller."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memgraph_pipelines.services.config import ServiceConfig

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
#: slf4j-simple levels: warnings, plus the lines that say the broker started or stopped.
LOGGING_FLAGS = (
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
    "-Dorg.slf4j.simpleLogger.log.kafka.server.BrokerServer=info",
    "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
)


class KafkaStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int


def project_topics(observatory_topic: str, registry_cdc_topic: str) -> list[TopicSpec]:
    """The topics the pipeline reads and writes, with the partition counts of the local broker."""
    from memgraph_pipelines.settings import dlq_topic, parked_topic

    return [
        TopicSpec(observatory_topic, 12),
        TopicSpec(dlq_topic(observatory_topic), 3),
        TopicSpec(parked_topic(observatory_topic), 1),
        TopicSpec(registry_cdc_topic, 1),
    ]


def plan_topics(
    specs: Iterable[TopicSpec], existing: Mapping[str, int]
) -> tuple[list[TopicSpec], list[TopicSpec]]:
    """``(to_create, to_grow)``: topics that are missing, and those with fewer partitions.

    A topic with more partitions than its spec is left as it is (Kafka cannot shrink one).
    """
    to_create: list[TopicSpec] = []
    to_grow: list[TopicSpec] = []
    for spec in specs:
        current = existing.get(spec.name)
        if current is None:
            to_create.append(spec)
        elif current < spec.partitions:
            to_grow.append(spec)
    return to_create, to_grow


def server_properties(config: ServiceConfig) -> str:
    """``server.properties`` of the single-node cluster (formatted with ``--standalone``)."""
    ctrl = f"127.0.0.1:{config.kafka_controller_port}"
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        # --standalone formatting records the voter set; the bootstrap servers only locate it.
        f"controller.quorum.bootstrap.servers={ctrl}",
        f"listeners=PLAINTEXT://127.0.0.1:{config.kafka_port},CONTROLLER://{ctrl}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{config.kafka_port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data_dir(config)}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        # Room for prompts up to SPEC's 1,000,000 characters (and the too_large ones above it).
        "message.max.bytes=16777216",
        "replica.fetch.max.bytes=16777216",
    ]
    return "\n".join(lines) + "\n"


def data_dir(config: ServiceConfig) -> Path:
    return config.kafka_dir / "data"


def properties_path(config: ServiceConfig) -> Path:
    return config.kafka_dir / "server.properties"


def log_path(config: ServiceConfig) -> Path:
    return config.kafka_dir / "kafka.log"


def pid_path(config: ServiceConfig) -> Path:
    return config.kafka_dir / "kafka.pid"


def server_command(config: ServiceConfig, lib_dir: Path) -> list[str]:
    return [
        config.java,
        f"-Xms{config.kafka_heap}",
        f"-Xmx{config.kafka_heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        *LOGGING_FLAGS,
        "-cp",
        f"{lib_dir}/*",
        MAIN_CLASS,
        str(properties_path(config)),
    ]


def is_formatted(config: ServiceConfig) -> bool:
    return (data_dir(config) / "meta.properties").is_file()


def format_storage(config: ServiceConfig, lib_dir: Path) -> str:
    """Formats the log directory of a new cluster; returns the cluster id."""
    base = [config.java, *LOGGING_FLAGS, "-cp", f"{lib_dir}/*", STORAGE_TOOL]
    output = _run_tool([*base, "random-uuid"], config, "random-uuid")
    cluster_id = output.strip().splitlines()[-1].strip()
    _run_tool(
        [*base, "format", "--standalone", "-t", cluster_id, "-c", str(properties_path(config))],
        config,
        "format",
    )
    return cluster_id


def prepare(config: ServiceConfig, lib_dir: Path) -> bool:
    """Writes ``server.properties``; formats storage the first time. True if it formatted."""
    config.kafka_dir.mkdir(parents=True, exist_ok=True)
    properties_path(config).write_text(server_properties(config))
    if is_formatted(config):
        return False
    format_storage(config, lib_dir)
    return True


def admin_client(brokers: str) -> Any:
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("memgraph_pipelines.services.librdkafka")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    return AdminClient({"bootstrap.servers": brokers, "logger": quiet})


def is_reachable(brokers: str, timeout: float = 3.0) -> bool:
    """Whether a broker answers a metadata request."""
    try:
        metadata = admin_client(brokers).list_topics(timeout=timeout)
    except Exception:  # KafkaException on timeout or refusal: not reachable
        return False
    return bool(metadata.brokers)


def wait_ready(brokers: str, deadline: float, alive: Callable[[], bool]) -> None:
    while time.monotonic() < deadline:
        if is_reachable(brokers, timeout=2.0):
            return
        if not alive():
            raise KafkaStartError("the Kafka process exited during start-up")
        time.sleep(0.5)
    raise KafkaStartError("Kafka did not answer a metadata request in time")


def ensure_topics(brokers: str, specs: list[TopicSpec], deadline: float) -> list[str]:
    """Creates missing topics and grows short ones; returns one line per change."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewPartitions, NewTopic

    admin = admin_client(brokers)
    while True:
        metadata = admin.list_topics(timeout=10)
        existing = {name: len(t.partitions) for name, t in metadata.topics.items()}
        to_create, to_grow = plan_topics(specs, existing)
        if not to_create and not to_grow:
            return []
        futures = {}
        if to_create:
            futures.update(
                admin.create_topics([NewTopic(s.name, s.partitions, 1) for s in to_create])
            )
        if to_grow:
            futures.update(
                admin.create_partitions([NewPartitions(s.name, s.partitions) for s in to_grow])
            )
        try:
            for future in futures.values():
                future.result(timeout=30)
        except KafkaException:
            # A controller that has only just started can refuse the first request.
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
            continue
        return [f"created topic {s.name} (partitions: {s.partitions})" for s in to_create] + [
            f"grew topic {s.name} to {s.partitions} partitions" for s in to_grow
        ]


def _run_tool(argv: list[str], config: ServiceConfig, action: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    with log_path(config).open("a") as log:
        log.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise KafkaStartError(
            f"{STORAGE_TOOL} {action} failed (exit {result.returncode}); read {log_path(config)}"
        )
    return result.stdout
