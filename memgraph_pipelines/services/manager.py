"""`services up | down | status | env`: the local Kafka broker and Neo4j server together."""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from memgraph_pipelines.services import kafka_server, maven, neo4j_server, process
from memgraph_pipelines.services.config import ServiceConfig

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
#: Exit code of `status` when a service is down or does not answer.
EXIT_NOT_RUNNING = 3

Report = Callable[[str], None]


class ServiceError(RuntimeError):
    """A service could not be started; the message names the log to read."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    address: str
    reachable: bool
    log: Path

    def line(self) -> str:
        if self.pid:
            running = f"pid {self.pid}"
        else:
            running = "not started by up" if self.reachable else "not running"
        answer = "reachable" if self.reachable else "NOT reachable"
        return f"{self.name:<6} {running:<18} {self.address:<24} {answer}  (log: {self.log})"


def kafka_markers(config: ServiceConfig) -> list[str]:
    return [kafka_server.MAIN_CLASS, str(kafka_server.properties_path(config))]


def neo4j_markers(config: ServiceConfig) -> list[str]:
    return [neo4j_server.MAIN_CLASS, f"--home-dir={config.neo4j_dir}"]


def up(config: ServiceConfig, report: Report = print) -> None:
    """Downloads (once), starts and waits for both servers; creates the project's topics."""
    from memgraph_pipelines.settings import Settings

    if shutil.which(config.java) is None:
        raise ServiceError(f"no Java at {config.java!r}: set JAVA_HOME or put java (17+) on PATH")
    maven_log = config.cache_dir / "maven.log"
    libs: dict[str, Path] = {}
    for name in ("kafka", "neo4j"):
        artifact = maven.load_artifact(name)
        started = time.monotonic()
        try:
            libs[name], downloaded = maven.resolve(artifact, config.cache_dir, maven_log)
        except maven.MavenError as exc:
            raise ServiceError(str(exc)) from exc
        if downloaded:
            took = time.monotonic() - started
            report(f"{name}: downloaded {artifact.version} to {libs[name]} in {took:.1f}s")

    deadline = time.monotonic() + START_TIMEOUT_S
    kafka_pid = _start_kafka(config, libs["kafka"], report)
    neo4j_pid, password = _start_neo4j(config, libs["neo4j"], report)

    kafka_log = kafka_server.log_path(config)
    try:
        alive = partial(_alive, kafka_server.pid_path(config), kafka_pid)
        kafka_server.wait_ready(config.kafka_brokers, deadline, alive)
        settings = Settings.from_env()
        specs = kafka_server.project_topics(settings.observatory_topic, settings.registry_cdc_topic)
        for change in kafka_server.ensure_topics(config.kafka_brokers, specs, deadline):
            report(f"kafka: {change}")
    except Exception as exc:
        raise ServiceError(f"kafka: {exc}; read {kafka_log}") from exc
    report(f"kafka: ready at {config.kafka_brokers}")

    neo4j_logs = f"{neo4j_server.log_path(config)} and {neo4j_server.console_log_path(config)}"
    try:
        alive = partial(_alive, neo4j_server.pid_path(config), neo4j_pid)
        if neo4j_server.wait_ready(config.neo4j_uri, password, deadline, alive):
            report(f"neo4j: initial password set (in {config.neo4j_password_file})")
    except Exception as exc:
        raise ServiceError(f"neo4j: {exc}; read {neo4j_logs}") from exc
    report(f"neo4j: ready at {config.neo4j_uri}")


def down(config: ServiceConfig, report: Report = print) -> None:
    """Stops the servers that `up` started (and nothing else)."""
    for name, pid_file in (
        ("neo4j", neo4j_server.pid_path(config)),
        ("kafka", kafka_server.pid_path(config)),
    ):
        report(f"{name}: {process.stop(pid_file, timeout=STOP_TIMEOUT_S)}")


def status(config: ServiceConfig) -> list[ServiceStatus]:
    password = _read_password(config.neo4j_password_file)
    return [
        ServiceStatus(
            name="kafka",
            pid=process.running_pid(kafka_server.pid_path(config)),
            address=config.kafka_brokers,
            reachable=kafka_server.is_reachable(config.kafka_brokers),
            log=kafka_server.log_path(config),
        ),
        ServiceStatus(
            name="neo4j",
            pid=process.running_pid(neo4j_server.pid_path(config)),
            address=config.neo4j_uri,
            reachable=neo4j_server.is_reachable(config.neo4j_uri, password),
            log=neo4j_server.log_path(config),
        ),
    ]


def env_values(config: ServiceConfig) -> dict[str, str]:
    """SPEC §6 environment for a shell that uses the local services."""
    from memgraph_pipelines.settings import Settings

    settings = Settings.from_env()
    return {
        "KAFKA_BROKERS": config.kafka_brokers,
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "NEO4J_URI": config.neo4j_uri,
        "NEO4J_USERNAME": neo4j_server.USERNAME,
        "NEO4J_PASSWORD": _read_password(config.neo4j_password_file) or "",
        "NEO4J_DATABASE": "neo4j",
        "OBSERVATORY_TOPIC": settings.observatory_topic,
        "REGISTRY_CDC_TOPIC": settings.registry_cdc_topic,
        "STAGING_URI": settings.staging_uri,
        "VAULT_LOCAL_URI": settings.vault_local_uri,
        "LOCAL_KEK_FILE": settings.local_kek_file,
        "DAGSTER_HOME": settings.dagster_home,
    }


def env_lines(values: dict[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def _start_kafka(config: ServiceConfig, lib_dir: Path, report: Report) -> int:
    pid_file = kafka_server.pid_path(config)
    pid = process.running_pid(pid_file)
    if pid is not None:
        report(f"kafka: already running (pid {pid})")
        return pid
    _require_free_ports("kafka", config.kafka_port, config.kafka_controller_port)
    try:
        if kafka_server.prepare(config, lib_dir):
            report(f"kafka: formatted storage in {kafka_server.data_dir(config)}")
    except kafka_server.KafkaStartError as exc:
        raise ServiceError(f"kafka: {exc}") from exc
    pid = process.start_detached(
        kafka_server.server_command(config, lib_dir),
        log_path=kafka_server.log_path(config),
        cwd=config.kafka_dir,
        pid_file=pid_file,
        markers=kafka_markers(config),
    )
    report(f"kafka: started (pid {pid}), log {kafka_server.log_path(config)}")
    return pid


def _start_neo4j(config: ServiceConfig, lib_dir: Path, report: Report) -> tuple[int, str]:
    pid_file = neo4j_server.pid_path(config)
    pid = process.running_pid(pid_file)
    password = neo4j_server.prepare(config) if pid is None else None
    if pid is not None:
        report(f"neo4j: already running (pid {pid})")
        return pid, _read_password(config.neo4j_password_file) or ""
    _require_free_ports("neo4j", config.neo4j_bolt_port)
    pid = process.start_detached(
        neo4j_server.server_command(config, lib_dir),
        log_path=neo4j_server.console_log_path(config),
        cwd=config.neo4j_dir,
        pid_file=pid_file,
        markers=neo4j_markers(config),
    )
    report(f"neo4j: started (pid {pid}), log {neo4j_server.log_path(config)}")
    return pid, password or ""


def _require_free_ports(name: str, *ports: int) -> None:
    busy = [str(port) for port in ports if process.port_in_use(port)]
    if busy:
        which = f"port {busy[0]} is" if len(busy) == 1 else f"ports {', '.join(busy)} are"
        raise ServiceError(
            f"{name}: {which} already in use by a process that "
            "`services up` did not start; choose other ports (MEMGRAPH_KAFKA_PORT, "
            "MEMGRAPH_KAFKA_CONTROLLER_PORT, MEMGRAPH_NEO4J_BOLT_PORT)"
        )


def _alive(pid_file: Path, pid: int) -> bool:
    return process.running_pid(pid_file) == pid


def _read_password(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
