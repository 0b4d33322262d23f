"""Automation instances: each (service, environment, target)'s latest run, latest lag-resetting
success and newest drift check, kept exact at intake so the promotion gate reads one row each.

`automation_instances_refresh(keys)` recomputes the rows of the given instances from their runs;
intake calls it in the transaction that stores runs, and deleting runs calls it too. The gate
falls back to the runs themselves when asked about a moment before an instance's latest run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection

from dora.models import AutomationInstance, AutomationRun

Key = tuple[int, int, int]  # service_id, environment_id, target_id
CHUNK = 300

# The three run ids of each instance, from one index probe each (automationrun_instance_idx,
# _reset_idx, _drift_idx). A VALUES list of keys is portable between PostgreSQL and SQLite.
_REFRESH_SQL = """
WITH k (service_id, environment_id, target_id) AS (VALUES {values})
INSERT INTO dora_automationinstance (
    service_id, environment_id, target_id, last_run_at, last_run_id, last_reset_id, last_drift_id
)
SELECT k.service_id, k.environment_id, k.target_id,
    (SELECT max(r.finished_at) FROM dora_automationrun r
      WHERE r.service_id = k.service_id AND r.environment_id = k.environment_id
        AND r.target_id = k.target_id),
    (SELECT r.id FROM dora_automationrun r
      WHERE r.service_id = k.service_id AND r.environment_id = k.environment_id
        AND r.target_id = k.target_id
      ORDER BY r.finished_at DESC, r.id DESC LIMIT 1),
    (SELECT r.id FROM dora_automationrun r
      WHERE r.service_id = k.service_id AND r.environment_id = k.environment_id
        AND r.target_id = k.target_id
        AND (r.status = 'success' AND NOT (r.action = 'plan'))
      ORDER BY r.finished_at DESC, r.id DESC LIMIT 1),
    (SELECT r.id FROM dora_automationrun r
      WHERE r.service_id = k.service_id AND r.environment_id = k.environment_id
        AND r.target_id = k.target_id AND r.drift_detected IS NOT NULL
      ORDER BY r.finished_at DESC, r.id DESC LIMIT 1)
FROM k
WHERE EXISTS (
    SELECT 1 FROM dora_automationrun r
    WHERE r.service_id = k.service_id AND r.environment_id = k.environment_id
      AND r.target_id = k.target_id
)
"""


def automation_instances_refresh(keys: Iterable[Key], *, connection: Any = connection) -> None:
    """Recompute the instances named by `keys` from their runs (an instance without runs goes).

    Runs deleted later (the admin, a pruned service) leave an instance naming a run id that no
    longer exists: its reader sees that and reads the runs instead (dora.promotion).
    """
    ordered = sorted(set(keys))
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


def automation_instances_rebuild() -> int:
    """Every instance from scratch (the migration that adds them; a repair)."""
    keys = list(
        AutomationRun.objects.values_list("service_id", "environment_id", "target_id").distinct()
    )
    AutomationInstance.objects.all().delete()
    automation_instances_refresh(keys)
    return len(keys)
