"""Hot-path SQL: statements sent as prepared statements on PostgreSQL, Django's cursor elsewhere.

The promotion gate and token authentication send the same few statements on every request; a
prepared statement is planned once per connection (planning cost more than executing them) and
its parameters travel bound, not spliced into the text.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from django.db import connection
from django.utils.dateparse import parse_datetime


def prepared_rows(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows (an empty list for a statement without rows)."""
    if connection.vendor != "postgresql":
        adapted = {
            k: connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v
            for k, v in params.items()
        }
        with connection.cursor() as cursor:
            cursor.execute(sql, adapted)
            return cursor.fetchall() if cursor.description else []
    connection.ensure_connection()
    started = time.perf_counter()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True, binary=True)
        rows = cursor.fetchall() if cursor.description else []
    if connection.queries_logged:  # counted like any other query (tests, debug toolbar)
        elapsed = time.perf_counter() - started
        connection.queries_log.append({"sql": sql, "time": f"{elapsed:.3f}"})
    return rows


def json_param(value: Any) -> Any:
    """A value for a json/jsonb column: wrapped for psycopg, text for SQLite."""
    if connection.vendor == "postgresql":
        return psycopg.types.json.Jsonb(value)
    import json

    return json.dumps(value)


def aware(value: Any) -> datetime | None:
    """A timestamp read raw: aware on PostgreSQL, naive UTC (datetime or text) on SQLite."""
    if value is None or (value.__class__ is datetime and value.tzinfo is not None):
        return value
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def duration(value: Any) -> timedelta | None:
    """A DurationField read raw: an interval on PostgreSQL, microseconds on SQLite."""
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(microseconds=int(value))
