"""Vault records in one SQLite database under the vault's directory. Plain module.

A put is one transaction: every record of it is stored, durably, or none is. The database is
in WAL mode with ``synchronous=FULL``, so a commit returns only after the log is on disk; a
reference reaches staging (and so the graph) only after that. Several processes may share the
vault (batch runs, the replay job, the CLI); SQLite's locking orders their writes, which
wait up to ``BUSY_TIMEOUT_MS`` for one another. The directory must be on a local disk, as for
any SQLite database.

One file instead of a file per record: a batch of the benchmark stores about 1,900 records,
and creating that many small files cost this machine from 0.04 s to 2.6 s of system time from
one moment to the next; their inserts and commit take about 0.08 s.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

#: (key, serialized record, classification) of each record to write.
Write = tuple[str, bytes, str]

DATABASE_NAME = "vault.sqlite3"
#: How long a write waits for another process's transaction before it fails.
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vault_records (
    key TEXT PRIMARY KEY,
    classification TEXT NOT NULL,
    record BLOB NOT NULL
) WITHOUT ROWID
"""


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switches the database to WAL (a lasting setting) unless it is already. The switch
    needs the database to itself and fails at once, not after the busy timeout, when another
    process opens it at the same moment: it is retried until that timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteObjects:
    """Keyed records (the §4.3 JSON of each content id) with their classification."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / DATABASE_NAME
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    def _connect(self) -> sqlite3.Connection:
        # Owner-only from the first byte: the database and its -wal/-shm files (which SQLite
        # creates with the database's mode) hold wrapped keys and ciphertext.
        self.root.mkdir(parents=True, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        _use_wal(connection)
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute(_SCHEMA)
        return connection

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # One connection per process (a connection must not cross a fork), shared by its
        # threads one at a time.
        with self._lock:
            if self._connection is None or self._pid != os.getpid():
                self._connection = self._connect()
                self._pid = os.getpid()
            yield self._connection

    def read(self, key: str) -> bytes | None:
        with self._db() as db:
            row = db.execute("SELECT record FROM vault_records WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def classification_of(self, key: str) -> str | None:
        with self._db() as db:
            row = db.execute(
                "SELECT classification FROM vault_records WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    def delete(self, key: str) -> bool:
        with self._db() as db:
            return db.execute("DELETE FROM vault_records WHERE key = ?", (key,)).rowcount > 0

    def write_many(self, writes: Sequence[Write]) -> None:
        """Stores every record in one transaction, replacing a stored record of the same key."""
        if not writes:
            return
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO vault_records (key, classification, record) "
                    "VALUES (?, ?, ?)",
                    ((key, classification, data) for key, data, classification in writes),
                )
                db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT can leave the transaction open; the next put must start afresh.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
