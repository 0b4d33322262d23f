"""Hot-path SQL: statements sent as prepared statements on PostgreSQL, Django's cursor elsewhere.

The promotion gate and token authentication send the same few statements on every request; a
prepared statement is planned once per connection (planning cost more than executing them) and
its parameters travel bound, not spliced into the text.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection


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
