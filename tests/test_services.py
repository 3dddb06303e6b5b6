"""Local services: config rendering, pid-file safety, topics, env output. No servers needed."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from memgraph_pipelines import settings
from memgraph_pipelines.cli.main import main
from memgraph_pipelines.services import kafka_server, manager, maven, neo4j_server, process
from memgraph_pipelines.services.config import ServiceConfig, ServiceConfigError

SPEC_ENV_NAMES = (
    "KAFKA_BROKERS",
    "KAFKA_SECURITY_PROTOCOL",
    "NEO4J_URI",
    "NEO4J_USERNAME",
    "NEO4J_PASSWORD",
    "NEO4J_DATABASE",
    "OBSERVATORY_TOPIC",
    "REGISTRY_CDC_TOPIC",
    "STAGING_URI",
    "VAULT_LOCAL_URI",
    "LOCAL_KEK_FILE",
    "DAGSTER_HOME",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """settings paths moved under tmp_path, ports free, no SPEC variables inherited."""
    local = tmp_path / "home"
    monkeypatch.setattr(settings, "LOCAL_HOME", local)
    monkeypatch.setattr(settings, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(settings, "SERVICES_DIR", local / "services")
    monkeypatch.setattr(settings, "NEO4J_PASSWORD_FILE", local / "services" / "neo4j" / "password")
    for name in SPEC_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEMGRAPH_KAFKA_PORT", str(_free_port()))
    monkeypatch.setenv("MEMGRAPH_KAFKA_CONTROLLER_PORT", str(_free_port()))
    monkeypatch.setenv("MEMGRAPH_NEO4J_BOLT_PORT", str(_free_port()))
    return local


@pytest.fixture
def config(home: Path, monkeypatch: pytest.MonkeyPatch) -> ServiceConfig:
    monkeypatch.setenv("MEMGRAPH_KAFKA_PORT", "19092")
    monkeypatch.setenv("MEMGRAPH_KAFKA_CONTROLLER_PORT", "19093")
    monkeypatch.setenv("MEMGRAPH_NEO4J_BOLT_PORT", "17687")
    monkeypatch.setenv("MEMGRAPH_KAFKA_HEAP", "512m")
    return ServiceConfig.from_env()


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")


def test_config_reads_ports_heaps_and_paths(config: ServiceConfig, home: Path) -> None:
    assert (config.kafka_port, config.kafka_controller_port, config.neo4j_bolt_port) == (
        19092,
        19093,
        17687,
    )
    assert (config.kafka_heap, config.neo4j_heap, config.neo4j_pagecache) == ("512m", "2g", "1g")
    assert config.kafka_dir == home / "services" / "kafka"
    assert config.neo4j_password_file == home / "services" / "neo4j" / "password"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MEMGRAPH_KAFKA_PORT", "ninety", "MEMGRAPH_KAFKA_PORT"),
        ("MEMGRAPH_NEO4J_BOLT_PORT", "70000", "outside"),
        ("MEMGRAPH_NEO4J_HEAP", "lots", "MEMGRAPH_NEO4J_HEAP"),
        ("MEMGRAPH_KAFKA_CONTROLLER_PORT", "19092", "must differ"),
    ],
)
def test_config_rejects_bad_values(
    home: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("MEMGRAPH_KAFKA_PORT", "19092")
    monkeypatch.setenv(name, value)
    with pytest.raises(ServiceConfigError, match=message):
        ServiceConfig.from_env()


def test_java_comes_from_java_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", "/opt/jdk-17")
    assert ServiceConfig.from_env().java == "/opt/jdk-17/bin/java"


def test_server_properties_for_given_ports(config: ServiceConfig) -> None:
    props = _properties(kafka_server.server_properties(config))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert "controller.quorum.voters" not in props  # incompatible with --standalone format
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == str(config.kafka_dir / "data")
    assert props["offsets.topic.replication.factor"] == "1"
    command = kafka_server.server_command(config, Path("/lib/kafka"))
    assert command[-2:] == [kafka_server.MAIN_CLASS, str(kafka_server.properties_path(config))]
    assert "-Xmx512m" in command
    assert "/lib/kafka/*" in command


def test_neo4j_conf_for_given_ports(config: ServiceConfig) -> None:
    conf = _properties(neo4j_server.neo4j_conf(config))
    assert conf["server.bolt.listen_address"] == "127.0.0.1:17687"
    assert conf["server.bolt.advertised_address"] == "127.0.0.1:17687"
    assert conf["server.default_listen_address"] == "127.0.0.1"
    assert conf["dbms.security.auth_enabled"] == "true"
    assert conf["server.http.enabled"] == "false"
    assert conf["server.https.enabled"] == "false"
    assert conf["server.directories.data"] == str(config.neo4j_dir / "data")
    assert conf["db.tx_log.rotation.retention_policy"] == "512M size"
    assert conf["db.checkpoint.interval.time"] == "5m"
    assert conf["dbms.cypher.min_replan_interval"] == "10m"
    command = neo4j_server.server_command(config, Path("/lib/neo4j"))
    assert f"--home-dir={config.neo4j_dir}" in command
    assert command[command.index("-cp") + 2] == neo4j_server.MAIN_CLASS


def test_password_is_generated_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "neo4j" / "password"
    first = neo4j_server.ensure_password(path)
    assert len(first) >= 24
    assert first != neo4j_server.INITIAL_PASSWORD
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert neo4j_server.ensure_password(path) == first
    assert neo4j_server.ensure_password(tmp_path / "other") != first


def test_topic_plan_is_idempotent() -> None:
    specs = kafka_server.project_topics("events", "registry.public.models")
    assert [(s.name, s.partitions) for s in specs] == [
        ("events", 12),
        ("events-dlq", 3),
        ("events-dlq-parked", 1),
        ("registry.public.models", 1),
    ]
    assert kafka_server.plan_topics(specs, {}) == (specs, [])
    complete = {s.name: s.partitions for s in specs}
    assert kafka_server.plan_topics(specs, complete) == ([], [])
    # More partitions than planned is left alone; fewer is grown; a missing one created.
    existing = {"events": 24, "events-dlq": 1, "registry.public.models": 1}
    to_create, to_grow = kafka_server.plan_topics(specs, existing)
    assert [s.name for s in to_create] == ["events-dlq-parked"]
    assert [s.name for s in to_grow] == ["events-dlq"]


def test_env_output_round_trips_through_a_shell(
    config: ServiceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    password = "it's $HOME; `rm`"
    config.neo4j_password_file.parent.mkdir(parents=True)
    config.neo4j_password_file.write_text(password + "\n")
    assert main(["services", "env"]) == 0
    script = capsys.readouterr().out
    assert all(line.startswith("export ") for line in script.splitlines())
    shell = subprocess.run(
        ["bash", "-c", 'eval "$1"; env -0', "env", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    exported = dict(item.split("=", 1) for item in shell.stdout.split("\0") if "=" in item)
    assert exported["KAFKA_BROKERS"] == "127.0.0.1:19092"
    assert exported["NEO4J_URI"] == "bolt://127.0.0.1:17687"
    assert exported["NEO4J_PASSWORD"] == password
    assert exported["KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert exported["OBSERVATORY_TOPIC"] == settings.DEFAULT_OBSERVATORY_TOPIC
    assert exported["DAGSTER_HOME"] == str(settings.LOCAL_HOME / "dagster_home")
    assert set(SPEC_ENV_NAMES) <= set(exported)


def _sleeper(*extra_args: str, ignore_term: bool = False) -> subprocess.Popen[bytes]:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, *extra_args], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def _gone(pid: int) -> bool:
    # stop() reaps its own children, so the exit status is not there to read; the pid is gone.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_stop_refuses_a_process_whose_command_line_does_not_match(tmp_path: Path) -> None:
    stranger = _sleeper()
    pid_file = tmp_path / "kafka.pid"
    record = process.PidRecord(stranger.pid, ("kafka.Kafka", "/x/server.properties"))
    process.write_pid_file(pid_file, record)
    try:
        assert process.running_pid(pid_file) is None
        assert "stale" in process.stop(pid_file, timeout=1)
        time.sleep(0.2)
        assert stranger.poll() is None  # still alive: never signalled
        assert not pid_file.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_terminates_the_recorded_server(tmp_path: Path) -> None:
    server = _sleeper("kafka.Kafka", "/x/server.properties")
    pid_file = tmp_path / "kafka.pid"
    process.write_pid_file(pid_file, process.PidRecord(server.pid, ("kafka.Kafka",)))
    assert process.running_pid(pid_file) == server.pid
    assert process.stop(pid_file, timeout=10).startswith("stopped")
    assert _gone(server.pid)
    assert process.running_pid(pid_file) is None


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path: Path) -> None:
    server = _sleeper("org.neo4j.server.CommunityEntryPoint", ignore_term=True)
    pid_file = tmp_path / "neo4j.pid"
    markers = ("org.neo4j.server.CommunityEntryPoint",)
    process.write_pid_file(pid_file, process.PidRecord(server.pid, markers))
    assert process.stop(pid_file, timeout=0.5).startswith("killed")
    assert _gone(server.pid)


def test_start_detached_requires_markers_in_the_command(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="markers"):
        process.start_detached(
            ["true"],
            log_path=tmp_path / "log",
            cwd=tmp_path,
            pid_file=tmp_path / "p",
            markers=["x"],
        )


def test_poms_pin_the_server_versions() -> None:
    assert maven.load_artifact("kafka").version == "4.1.1"
    assert maven.load_artifact("neo4j").version == "5.26.30"
    with pytest.raises(maven.MavenError):
        maven.pom_version('<project xmlns="http://maven.apache.org/POM/4.0.0"/>')


def test_resolve_skips_maven_when_the_cache_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = maven.load_artifact("kafka")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no mvn to run
    with pytest.raises(maven.MavenError, match="mvn"):
        maven.resolve(artifact, tmp_path, tmp_path / "maven.log")
    lib_dir = artifact.lib_dir(tmp_path)
    assert lib_dir == tmp_path / "lib" / "kafka-4.1.1"
    (lib_dir / maven.COMPLETE_MARKER).write_text("kafka_2.13-4.1.1.jar\n")
    assert maven.resolve(artifact, tmp_path, tmp_path / "maven.log") == (lib_dir, False)


def test_maven_command_uses_the_private_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_mvn = tmp_path / "bin" / "mvn"
    fake_mvn.parent.mkdir()
    fake_mvn.write_text("#!/bin/sh\n")
    fake_mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_mvn.parent))
    command = maven.maven_command(tmp_path / "pom.xml", tmp_path / "lib", tmp_path / "m2")
    assert f"-Dmaven.repo.local={tmp_path / 'm2'}" in command
    assert f"-DoutputDirectory={tmp_path / 'lib'}" in command


def test_status_of_stopped_services_exits_3(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services", "status"]) == manager.EXIT_NOT_RUNNING
    out = capsys.readouterr().out
    assert out.count("NOT reachable") == 2


def test_up_names_the_log_when_a_server_dies(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_java = tmp_path / "jdk" / "bin" / "java"
    fake_java.parent.mkdir(parents=True)
    fake_java.write_text(
        textwrap.dedent("""\
        #!/bin/sh
        echo "fake server failed: $*"
        exit 1
    """)
    )
    fake_java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    config = ServiceConfig.from_env()
    for name in ("kafka", "neo4j"):
        lib_dir = maven.load_artifact(name).lib_dir(config.cache_dir)
        lib_dir.mkdir(parents=True)
        (lib_dir / maven.COMPLETE_MARKER).write_text("")
    (config.kafka_dir / "data").mkdir(parents=True)
    (config.kafka_dir / "data" / "meta.properties").write_text("")  # already formatted
    with pytest.raises(manager.ServiceError, match=r"kafka.*exited.*kafka\.log"):
        manager.up(config, report=lambda line: None)
    assert "fake server failed" in kafka_server.log_path(config).read_text()
    assert process.running_pid(kafka_server.pid_path(config)) is None
