"""The local Neo4j Community server: bolt on loopback, auth on, a generated password."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from memgraph_pipelines.services.config import ServiceConfig

MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
USERNAME = "neo4j"
#: The built-in credential of a new Neo4j server, usable only to change the password.
INITIAL_PASSWORD = "neo4j"
#: JVM flags Neo4j expects (it warns, or is slower, without them).
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
)


class Neo4jStartError(RuntimeError):
    pass


def conf_dir(config: ServiceConfig) -> Path:
    return config.neo4j_dir / "conf"


def log_path(config: ServiceConfig) -> Path:
    return config.neo4j_dir / "logs" / "neo4j.log"


def console_log_path(config: ServiceConfig) -> Path:
    """The JVM's own stdout and stderr: where a crash before logging starts shows up."""
    return config.neo4j_dir / "logs" / "console.log"


def pid_path(config: ServiceConfig) -> Path:
    return config.neo4j_dir / "neo4j.pid"


def neo4j_conf(config: ServiceConfig) -> str:
    home = config.neo4j_dir
    bolt = f"127.0.0.1:{config.neo4j_bolt_port}"
    lines = [
        "server.default_listen_address=127.0.0.1",
        f"server.bolt.listen_address={bolt}",
        f"server.bolt.advertised_address={bolt}",
        "server.http.enabled=false",
        "server.https.enabled=false",
        f"server.memory.heap.initial_size={config.neo4j_heap}",
        f"server.memory.heap.max_size={config.neo4j_heap}",
        f"server.memory.pagecache.size={config.neo4j_pagecache}",
        "dbms.security.auth_enabled=true",
        "dbms.usage_report.enabled=false",
        # The default keeps two days of transaction logs: tests and benchmarks that empty and
        # refill the graph filled 50 GB of disk with them. Local data is disposable.
        "db.tx_log.rotation.retention_policy=512M size",
        # Logs are pruned at checkpoints only: at the default 15 minutes, benchmarks wrote 13 GB
        # of them between two.
        "db.checkpoint.interval.time=5m",
        # Tests and the benchmark fill an empty graph in seconds. At the default 10 s, Neo4j
        # replanned every load query each 10 s as the counts grew, on the writer thread, and
        # compiled each new plan's code (docs/benchmark.md). The load's plans are index seeks
        # whatever the counts (unique keys, hints): replan at most every 10 minutes.
        "dbms.cypher.min_replan_interval=10m",
        f"server.directories.data={home / 'data'}",
        f"server.directories.logs={home / 'logs'}",
        f"server.directories.plugins={home / 'plugins'}",
        f"server.directories.run={home / 'run'}",
        f"server.directories.import={home / 'import'}",
    ]
    return "\n".join(lines) + "\n"


def server_command(config: ServiceConfig, lib_dir: Path) -> list[str]:
    # Launched without the neo4j script, so the heap set in neo4j.conf is passed here too.
    return [
        config.java,
        f"-Xms{config.neo4j_heap}",
        f"-Xmx{config.neo4j_heap}",
        *JVM_FLAGS,
        "-cp",
        f"{lib_dir}/*",
        MAIN_CLASS,
        f"--home-dir={config.neo4j_dir}",
        f"--config-dir={conf_dir(config)}",
    ]


def ensure_password(path: Path) -> str:
    """The local server's password; generated (mode 0600) on first use, never a default."""
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        os.chmod(path, 0o600)
        return existing
    password = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    os.chmod(path, 0o600)
    return password


def prepare(config: ServiceConfig) -> str:
    """Writes ``neo4j.conf`` and the directories; returns the password."""
    for name in ("conf", "data", "logs", "plugins", "run", "import"):
        (config.neo4j_dir / name).mkdir(parents=True, exist_ok=True)
    (conf_dir(config) / "neo4j.conf").write_text(neo4j_conf(config))
    return ensure_password(config.neo4j_password_file)


def is_reachable(uri: str, password: str | None, timeout: float = 5.0) -> bool:
    """Whether the server answers ``RETURN 1`` with the local credentials."""
    if not password:
        return False
    try:
        _return_one(uri, password, timeout)
        return True
    except Exception:  # ServiceUnavailable, AuthError, a database still starting: not reachable
        return False


def wait_ready(uri: str, password: str, deadline: float, alive: Callable[[], bool]) -> bool:
    """Waits until ``RETURN 1`` succeeds; sets the password on a new server first.

    Returns True when it set the initial password.
    """
    from neo4j.exceptions import AuthError

    password_set = False
    while time.monotonic() < deadline:
        if not alive():
            raise Neo4jStartError("the Neo4j process exited during start-up")
        try:
            _return_one(uri, password, timeout=5.0)
            return password_set
        except AuthError:
            if password_set or not _set_initial_password(uri, password):
                raise Neo4jStartError(
                    "Neo4j rejects the password in the password file; remove "
                    "the Neo4j data directory to start over with a new one"
                ) from None
            password_set = True
        except Exception:  # refused or still starting: try again
            time.sleep(1.0)
    raise Neo4jStartError("Neo4j did not answer RETURN 1 in time")


def _return_one(uri: str, password: str, timeout: float) -> None:
    import neo4j

    # An auto-commit query, not execute_query: the driver would retry (and log) on its own.
    with (
        neo4j.GraphDatabase.driver(
            uri, auth=(USERNAME, password), connection_timeout=timeout
        ) as driver,
        driver.session(database="neo4j") as session,
    ):
        session.run("RETURN 1 AS ok").consume()


def _set_initial_password(uri: str, password: str) -> bool:
    import neo4j
    from neo4j.exceptions import AuthError

    try:
        with (
            neo4j.GraphDatabase.driver(uri, auth=(USERNAME, INITIAL_PASSWORD)) as driver,
            driver.session(database="system") as session,
        ):
            session.run(
                "ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                old=INITIAL_PASSWORD,
                new=password,
            ).consume()
    except AuthError:
        return False
    return True
