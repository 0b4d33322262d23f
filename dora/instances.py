"""Automation instances: each (service, environment, target)'s latest run, latest lag-resetting
success and newest drift check, kept exact at intake so the promotion gate reads one row each.

`automation_instances_refresh(keys)` recomputes the rows of the given instances from their runs;
intake calls it in the transaction that stores runs, and the admin when it deletes runs. The gate
reads the runs themselves when asked about a moment before an instance's latest run.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from django.db import connection

from dora.models import AutomationInstance, AutomationRun

Key = tuple[int, int, int]  # service_id, environment_id, target_id
CHUNK = 300

# Each instance's latest run, latest lag-resetting success and newest drift check, from one
# index probe each (automationrun_instance_idx, _reset_idx, _drift_idx). A VALUES list of keys
# in a CTE is portable between PostgreSQL and SQLite.
_REFRESH_SQL = """
WITH k (service_id, environment_id, target_id) AS (VALUES {values}),
probe AS (
    SELECT k.service_id, k.environment_id, k.target_id,
        (SELECT r.id FROM dora_automationrun r
          WHERE r.service_id = k.service_id AND r.environment_id = k.environment_id
            AND r.target_id = k.target_id
          ORDER BY r.finished_at DESC, r.id DESC LIMIT 1) AS last_run,
        (SELECT r.id FROM dora_automationrun r
          WHERE r.service_id = k.service_id AND r.environment_id = k.environment_id
            AND r.target_id = k.target_id
            AND (r.status = 'success' AND NOT (r.action = 'plan'))
          ORDER BY r.finished_at DESC, r.id DESC LIMIT 1) AS last_reset,
        (SELECT r.id FROM dora_automationrun r
          WHERE r.service_id = k.service_id AND r.environment_id = k.environment_id
            AND r.target_id = k.target_id AND r.drift_detected IS NOT NULL
          ORDER BY r.finished_at DESC, r.id DESC LIMIT 1) AS last_drift
    FROM k
)
INSERT INTO dora_automationinstance (
    service_id, environment_id, target_id, last_run_at, last_reset_at, last_reset_action,
    last_reset_trigger, last_reset_version, drift_checked_at, drift_detected
)
SELECT p.service_id, p.environment_id, p.target_id, run.finished_at,
       reset.finished_at, COALESCE(reset.action, ''), COALESCE(reset.trigger, ''),
       COALESCE(reset.version, ''), drift.finished_at, drift.drift_detected
FROM probe p
JOIN dora_automationrun run ON run.id = p.last_run
LEFT JOIN dora_automationrun reset ON reset.id = p.last_reset
LEFT JOIN dora_automationrun drift ON drift.id = p.last_drift
"""


def automation_instances_refresh(keys: Iterable[Key], *, connection: Any = connection) -> None:
    """Recompute the instances named by `keys` from their runs (an instance without runs goes).

    Intake calls it for the instances a batch of runs touched, before and after; the admin for
    the runs it deletes.
    """
    ordered = sorted(set(keys))
    if ordered and connection.vendor == "postgresql":
        _instances_lock(ordered, connection=connection)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        values = ", ".join(["(%s, %s, %s)"] * len(chunk))
        params = [part for key in chunk for part in key]
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM dora_automationinstance "  # noqa: S608 - placeholders only
                f"WHERE (service_id, environment_id, target_id) IN (VALUES {values})",
                params,
            )
            cursor.execute(_REFRESH_SQL.format(values=values), params)


# pg_advisory_xact_lock's first key: this module's own space of locks.
_LOCK_SPACE = 0x44524149  # "DRAI"


def _instances_lock(keys: list[Key], *, connection: Any) -> None:
    """Hold, until the transaction ends, a lock per instance, taken in one global order.

    Two intake batches with runs of one instance would otherwise each delete its row (none yet,
    or the old one) and insert it again: the second insert collides with the first's, and its
    runs are lost with the rolled-back batch. Waiting here for the other batch to commit, this
    one's statements then see its runs, and the row they write is computed from both.
    """
    ids = sorted({_lock_id(key) for key in keys})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::int[]) AS u(k)",
            [_LOCK_SPACE, ids],
        )


def _lock_id(key: Key) -> int:
    """A signed 32-bit number for a key (two keys may share one: they then wait for each other)."""
    value = zlib.crc32(":".join(map(str, key)).encode())
    return value - 2**32 if value >= 2**31 else value


def automation_instances_rebuild() -> int:
    """Every instance from scratch (the migration that adds them; a repair)."""
    keys = list(
        AutomationRun.objects.values_list("service_id", "environment_id", "target_id").distinct()
    )
    AutomationInstance.objects.all().delete()
    automation_instances_refresh(keys)
    return len(keys)
