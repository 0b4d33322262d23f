"""The service's dependencies: the checks behind /healthz and /readyz, and what a web process
does when an optional one (the Redis cache, the Celery broker) fails a call: it carries on
without it, logs a WARNING (at most one a minute per dependency, saying how many it left out)
and counts the failure (per process; /readyz shows the counts to operators).

The promotion gate, intake and the pages need only PostgreSQL: without the cache a page is
computed on every view, and without the broker a page whose snapshot is older than the facts
is computed at once instead of by a worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from dora.deadline import database_deadline

log = logging.getLogger(__name__)

WARNING_INTERVAL_SECONDS = 60.0
COMPONENTS = ("database", "broker", "cache", "derivation", "replica")

_lock = threading.Lock()
_failures: Counter[str] = Counter()
_last_warning: dict[str, float] = {}
_left_out: Counter[str] = Counter()


def dependency_failed(component: str, action: str, exc: BaseException) -> None:
    """Count a failed call to `component` that the caller survives, and log it (rate-limited)."""
    with _lock:
        _failures[component] += 1
    warning_limited(
        component,
        "%s unavailable (%s failed: %s: %s); carrying on without it",
        component,
        action,
        exc.__class__.__name__,
        exc,
    )


def warning_limited(topic: str, message: str, *args: Any) -> None:
    """log.warning, at most once a minute per topic, saying how many were left out meanwhile."""
    now = time.monotonic()
    with _lock:
        last = _last_warning.get(topic)
        if last is not None and now - last < WARNING_INTERVAL_SECONDS:
            _left_out[topic] += 1
            return
        _last_warning[topic] = now
        left_out, _left_out[topic] = _left_out[topic], 0
    if left_out:
        message += f" ({left_out} more like it not logged in the last minute)"
    log.warning(message, *args)


def dependency_failures() -> dict[str, int]:
    """Failed calls survived by this process since it started, per dependency."""
    with _lock:
        return {component: _failures[component] for component in ("cache", "broker")}


def task_send(task: Any, *, args: Any = (), kwargs: Any = None, **options: Any) -> bool:
    """Queue a Celery task; False (logged and counted) when the broker cannot take it. Each
    connection attempt is bounded by DORA_BROKER_TIMEOUT_SECONDS (dora/settings.py)."""
    if kwargs:
        options["kwargs"] = kwargs
    try:
        task.apply_async(args=args, **options)
    except Exception as exc:  # the broker is optional for a web request: never fail it
        dependency_failed("broker", f"queueing {task.name}", exc)
        return False
    return True


class Check(NamedTuple):
    """One component's state: ok or not, and what an operator may read about it."""

    ok: bool
    detail: str


def _error(exc: BaseException) -> Check:
    return Check(False, f"error: {exc.__class__.__name__}: {exc}")


def database_check() -> Check:
    """The default database answers a query (within the gate's deadline)."""
    try:
        with (
            database_deadline(settings.DORA_GATE_TIMEOUT_SECONDS),
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is reported, never raised, by a health probe
        return _error(exc)
    return Check(True, "ok")


def broker_check() -> Check:
    """The Celery broker accepts a connection (DORA_BROKER_TIMEOUT_SECONDS)."""
    broker_url = getattr(settings, "CELERY_BROKER_URL", None)
    if not broker_url:
        return Check(True, "eager (no broker configured): tasks run in the calling process")
    from kombu import Connection

    timeout = settings.DORA_BROKER_TIMEOUT_SECONDS
    try:
        with Connection(
            broker_url,
            connect_timeout=timeout,
            transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout},
        ) as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=timeout
            )
    except Exception as exc:  # any failure is reported, never raised, by a health probe
        return _error(exc)
    return Check(True, "ok")


def cache_check() -> Check:
    """The snapshot cache takes and gives back a value (DORA_CACHE_TIMEOUT_SECONDS)."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache"):
        return Check(True, "ok: memory of each process (DORA_CACHE_URL unset)")
    key = f"dora:health:{threading.get_ident()}"
    try:
        cache.set(key, 1, timeout=10)
        if cache.get(key) != 1:
            return Check(False, "error: the cache did not give back what it was given")
    except Exception as exc:  # any failure is reported, never raised, by a health probe
        return _error(exc)
    return Check(True, "ok")


def derivation_check() -> Check:
    """How many (service, environment) pairs wait for derivation (a backlog is not a failure:
    beat's derive-pending works it off), and which could not be derived (a failure: their
    facts are behind, and the gate blocks their promotions until they are derived)."""
    from dora.intake.derive import derivation_failures
    from dora.models import DerivePending

    try:
        with database_deadline(settings.DORA_GATE_TIMEOUT_SECONDS):
            waiting = DerivePending.objects.filter(failed_at__isnull=True).count()
            failed = derivation_failures()
    except Exception as exc:  # any failure is reported, never raised, by a health probe
        return _error(exc)
    backlog = f"{waiting} service/environment pairs waiting for derivation"
    if not failed:
        return Check(True, f"ok: {backlog}")
    named = "; ".join(f"{f.service} in {f.environment}: {f.error[:200]}" for f in failed[:10])
    more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
    return Check(
        False,
        f"error: {len(failed)} pair(s) could not be derived ({named}{more}); fix or delete the "
        f"facts the errors name, then `manage.py derive --retry-failed`. {backlog}",
    )


def replica_check() -> Check:
    """Where the replica-routed reads go now (dora.db_router), measured afresh. Never a
    failure: without the replica those reads go to the primary, and the service is whole."""
    from dora.db_router import replica_state

    state = replica_state(fresh=True)
    if state.usable:
        return Check(True, f"{state.detail}: dashboards, metrics API and report read here")
    return Check(True, f"reading on the primary instead: the replica is {state.detail}")


def checks_known() -> list[str]:
    """The components /readyz knows: the replica only with DATABASE_REPLICA_URL set."""
    from dora.db_router import replica_configured

    return [name for name in CHECKS if name != "replica" or replica_configured()]


def checks_run(names: list[str]) -> dict[str, Check]:
    """Run the named checks; a failing one's detail is logged (rate-limited), since an
    anonymous prober is only told "error"."""
    results = {name: CHECKS[name]() for name in names}
    for name, check in results.items():
        if not check.ok:
            warning_limited(f"check:{name}", "health check %s: %s", name, check.detail)
    return results


CHECKS = {
    "database": database_check,
    "broker": broker_check,
    "cache": cache_check,
    "derivation": derivation_check,
    "replica": replica_check,
}
