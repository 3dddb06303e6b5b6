"""Managed write transactions whose deadlocks are retried at once. Plain module.

Parallel writers rarely deadlock, and Neo4j ends one of the two transactions at once. The
driver retries transient errors itself, but waits 1 s before its first retry (doubling after):
on 2 cores a chunk takes 0.1-0.5 s, so the writer that lost sat idle for several
chunks' time while the other finished alone. A deadlock raised while the work runs is taken out
of the driver's hands here and retried after a short, jittered wait; every other transient
error, and a deadlock at commit, still goes through the driver's own retries.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from neo4j import ManagedTransaction, Session
from neo4j.exceptions import TransientError

DEADLOCK_CODE = "Neo.TransientError.Transaction.DeadlockDetected"
#: The first wait after a deadlock, doubled after each next one up to ``MAX_WAIT_SECONDS``.
FIRST_WAIT_SECONDS = 0.02
MAX_WAIT_SECONDS = 1.0
#: Deadlocks of one chunk retried here before the error is raised.
MAX_RETRIES = 10

log = logging.getLogger(__name__)
R = TypeVar("R")


class _Deadlocked(Exception):
    """Carries a deadlock past the driver's retry loop (it retries only its own errors)."""

    def __init__(self, error: TransientError) -> None:
        super().__init__(error.code)
        self.error = error


def _raising_deadlocks(tx: ManagedTransaction, work: Callable[..., R], args: tuple[Any, ...]) -> R:
    try:
        return work(tx, *args)
    except TransientError as error:
        if error.code == DEADLOCK_CODE:
            raise _Deadlocked(error) from None
        raise


def execute_write(session: Session, work: Callable[..., R], *args: Any) -> R:
    """``session.execute_write(work, *args)``, with a deadlock retried after a short wait."""
    wait, retries = FIRST_WAIT_SECONDS, 0
    while True:
        try:
            return session.execute_write(_raising_deadlocks, work, args)
        except _Deadlocked as deadlocked:
            if retries == MAX_RETRIES:
                raise deadlocked.error from None
        retries += 1
        # Lock and transaction ids are all the server's message holds; none is logged either.
        log.info("deadlock between writers, retry %d in %.2f s", retries, wait)
        time.sleep(wait * random.uniform(0.8, 1.2))
        wait = min(wait * 2, MAX_WAIT_SECONDS)
