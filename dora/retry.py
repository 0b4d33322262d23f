"""Run a transaction again when PostgreSQL aborted it to break a deadlock or a serialization
conflict. Intake and derivation run concurrently (API requests, Celery workers): an intake batch
that re-sends deployments and a derivation that assigns those deployments to rollouts can each
hold a row the other needs. PostgreSQL then aborts one of them; the aborted one is simply run
again, so no valid event is lost and no pending derivation is dropped.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, OperationalError, connection, transaction

log = logging.getLogger(__name__)
T = TypeVar("T")

# deadlock_detected, serialization_failure, unique_violation (two writers inserting one key the
# same moment, e.g. a service created on first sight: the retry sees the other's row)
TRANSIENT_SQLSTATES = {"40P01", "40001", "23505"}
ATTEMPTS = 6


class TransactionConflict(Exception):
    """The work was aborted by concurrent transactions on every attempt: nothing was stored.
    Callers answer it as "busy, try again" (HTTP 503 with Retry-After), never as a failure of
    the input."""


def transient(exc: BaseException) -> bool:
    """Whether the database aborted the transaction only because of another one."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES


def atomic_retry(
    work: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """`work()` in a transaction, run again (up to `attempts` times in all) when it is aborted
    as a deadlock victim, a serialization failure or the loser of a unique-key race.
    `on_retry` drops whatever `work` cached from the aborted attempt. Inside an outer
    transaction there is nothing to retry: the outer one is aborted too, so the error is raised
    at once. When every attempt was aborted, TransactionConflict is raised."""
    nested = connection.in_atomic_block
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                return work()
        except (OperationalError, IntegrityError) as exc:
            if nested or not transient(exc):
                raise
            if attempt == attempts:
                raise TransactionConflict(
                    f"aborted by concurrent writes {attempts} times ({exc.__class__.__name__})"
                ) from exc
            log.warning("transaction aborted (%s); attempt %d of %d", exc, attempt + 1, attempts)
            if on_retry is not None:
                on_retry()
            # Jittered, growing: the transactions that collided do not collide again in step.
            time.sleep(random.uniform(0.02, 0.1) * 2 ** (attempt - 1))  # noqa: S311
    raise AssertionError("unreachable")
