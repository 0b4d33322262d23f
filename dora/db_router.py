"""Reads on a streaming replica (DATABASE_REPLICA_URL): inside an explicit read scope only.

The dashboards, the metrics API and the leadership report read through `replica_reads` (a
decorator for read-only views): their reads of this project's facts (app `dora`) go to the
"replica" alias while the replica answers and replays within DORA_REPLICA_MAX_LAG seconds of its
primary, and to the primary ("default") otherwise. Everything else - the promotion gate, intake,
derivation, the admin, logins and sessions, any write - never enters a scope and stays on the
primary: the router routes nothing outside one, and every write goes to the primary.

The replica's state (reachable, and how far its replay is behind) is measured at most every
DORA_REPLICA_CHECK_SECONDS per process. A replica that fails during a view (it stopped after it
was last measured) is taken as down, and the view runs again on the primary: it answers 200,
not 500. A statement the replica cancelled for running too long is raised as it is (the
primary would take as long).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

REPLICA_DB_ALIAS = "replica"
# Only the facts are read on the replica; auth, sessions and login throttling (other apps) stay
# on the primary, so a viewer who just logged in is recognised whatever the replica's lag.
REPLICA_APPS = frozenset({"dora"})
# How far replay is behind, in seconds: 0 when it has replayed all the WAL it received (an idle
# primary writes no WAL, so the age of the last replayed transaction would overstate it), else
# the age of the last transaction it replayed (infinity when it has replayed none since it
# started). A replica cut off from its primary receives nothing and so reads as caught up.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(
        EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8,
        'Infinity'::float8
    )
END
"""

T = TypeVar("T")

_reads: contextvars.ContextVar[str | None] = contextvars.ContextVar("dora_reads", default=None)
_lock = threading.Lock()
_measured: tuple[float, ReplicaState] | None = None


class ReplicaState(NamedTuple):
    """Whether reads may go to the replica now, and why (for /readyz and the log)."""

    usable: bool
    detail: str


class ReplicaRouter:
    """Reads of `dora` models inside a read scope go to the scope's alias; all else to default."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        alias = _reads.get()
        if alias is not None and model._meta.app_label in REPLICA_APPS:
            return alias
        return None

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica holds the primary's rows: one database as far as Django knows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # a replica is read-only; it gets the schema by replay


def read_alias() -> str:
    """The alias this scope's reads go to (default outside any scope)."""
    return _reads.get() or DEFAULT_DB_ALIAS


@contextmanager
def reads_from(alias: str) -> Iterator[str]:
    """Within the block, reads of `dora` models go to `alias`."""
    token = _reads.set(alias)
    try:
        yield alias
    finally:
        _reads.reset(token)


def replica_configured() -> bool:
    """A replica alias that is a database of its own (a test mirror of default is not)."""
    if REPLICA_DB_ALIAS not in settings.DATABASES:
        return False
    replica = connections[REPLICA_DB_ALIAS].settings_dict
    default = connections[DEFAULT_DB_ALIAS].settings_dict
    keys = ("HOST", "PORT", "NAME")
    return tuple(replica.get(k) for k in keys) != tuple(default.get(k) for k in keys)


def replica_state(*, fresh: bool = False) -> ReplicaState:
    """The replica's state, measured at most every DORA_REPLICA_CHECK_SECONDS (per process)."""
    global _measured
    now = time.monotonic()
    with _lock:
        if not fresh and _measured is not None:
            measured_at, state = _measured
            if now - measured_at < settings.DORA_REPLICA_CHECK_SECONDS:
                return state
    state = _replica_measure()
    with _lock:
        _measured = (time.monotonic(), state)
    return state


def replica_state_forget() -> None:
    """Measure again at the next read scope (tests; a replica seen failing)."""
    global _measured
    with _lock:
        _measured = None


def _replica_measure() -> ReplicaState:
    from dora.deadline import database_deadline

    max_lag = settings.DORA_REPLICA_MAX_LAG
    wrapper = connections[REPLICA_DB_ALIAS]
    try:
        with (
            database_deadline(settings.DORA_GATE_TIMEOUT_SECONDS, REPLICA_DB_ALIAS),
            wrapper.cursor() as cursor,
        ):
            cursor.execute(LAG_SQL)
            (lag,) = cursor.fetchone()
    except Exception as exc:  # down, refused, cut: fall back, never fail the read
        _connection_drop()
        return ReplicaState(False, f"down ({exc.__class__.__name__}: {str(exc).strip()})")
    if lag > max_lag:
        return ReplicaState(False, f"lagging: replay {lag:.1f} s behind (over {max_lag:g} s)")
    return ReplicaState(True, f"ok: replay {lag:.1f} s behind (at most {max_lag:g} s)")


def _connection_drop() -> None:
    wrapper = connections[REPLICA_DB_ALIAS]
    try:
        wrapper.close()
    except Exception:  # a cut connection may fail to close cleanly; it is dropped either way
        wrapper.connection = None


def _replica_failed(exc: BaseException) -> None:
    """A replica that failed mid-view: down until measured again, its connection dropped."""
    from dora.health import warning_limited

    global _measured
    _connection_drop()
    state = ReplicaState(False, f"down ({exc.__class__.__name__}: {str(exc).strip()})")
    with _lock:
        _measured = (time.monotonic(), state)
    warning_limited(
        "replica", "replica failed during a read (%s); reading on the primary", state.detail
    )


def _statement_cancelled(exc: BaseException) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "57014"  # query_canceled: statement_timeout


def replica_reads(view: Callable[..., T]) -> Callable[..., T]:
    """Run a read-only view with its reads on the replica when it is usable, else the primary;
    a replica that fails during the view makes it run again on the primary."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> T:
        if not replica_configured():
            return view(*args, **kwargs)
        state = replica_state()
        if state.usable:
            try:
                with reads_from(REPLICA_DB_ALIAS):
                    return view(*args, **kwargs)
            except DatabaseError as exc:
                if _statement_cancelled(exc) or connections[REPLICA_DB_ALIAS].is_usable():
                    raise  # not the replica going away: the primary would fail alike
                _replica_failed(exc)
        with reads_from(DEFAULT_DB_ALIAS):
            return view(*args, **kwargs)

    return wrapped
