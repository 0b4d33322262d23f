"""The facts generation: a counter raised after every commit that may change a figure.

Dashboard snapshots (dora.web.snapshots) are keyed by it. Raised once the transaction that
stored events, derived facts, applied a configuration or saved an admin edit has committed
(`transaction.on_commit`), in a statement of its own: a page that read the old value and then
the new facts is only computed again, never served stale; and the row is locked for that one
statement only, not for the length of an intake batch.
"""

from __future__ import annotations

from django.db import connection, connections, transaction

from dora.db_router import read_alias

# An upsert (PostgreSQL and SQLite alike): the row may be gone after a test's flush.
_BUMP_SQL = """
INSERT INTO dora_factsgeneration (id, value) VALUES (1, 1)
ON CONFLICT (id) DO UPDATE SET value = dora_factsgeneration.value + 1
"""


def facts_generation() -> int:
    """The current generation (0 before the first change), read where the facts are read: on
    the replica inside its read scope (dora.db_router), so a page computed from a lagging
    replica is kept under the generation it saw, never under a newer one."""
    with connections[read_alias()].cursor() as cursor:
        cursor.execute("SELECT value FROM dora_factsgeneration WHERE id = 1")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def facts_changed() -> None:
    """Raise the generation when the current transaction commits (at once outside one)."""
    transaction.on_commit(_bump)


def _bump() -> None:
    with connection.cursor() as cursor:
        cursor.execute(_BUMP_SQL)
