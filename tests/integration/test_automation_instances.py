"""dora.instances: each automation instance's latest run, reset and drift check, kept at intake,
and the promotion gate's reads of them (the runs themselves when the kept rows cannot answer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dora.instances import automation_instances_rebuild
from dora.intake.events import events_record
from dora.models import AutomationInstance, AutomationRun, Environment, Service
from dora.prepared import prepared_rows as _rows
from dora.reads.promotion_instances import _INSTANCES_PROBED_SQL, _automation_instances

pytestmark = pytest.mark.django_db
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run(ident: str, hours: float, **fields: Any) -> dict[str, Any]:
    return {
        "type": "automation_run",
        "id": ident,
        "service": "network",
        "environment": "staging",
        "target": fields.pop("target", "s-a"),
        "action": fields.pop("action", "apply"),
        "status": fields.pop("status", "success"),
        "finished_at": (T + timedelta(hours=hours)).isoformat(),
        **fields,
    }


def record(*events: dict[str, Any]) -> None:
    report = events_record(list(events))
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


def hours(moment: datetime | None) -> float | None:
    return None if moment is None else (moment - T) / timedelta(hours=1)


def instance(target: str = "s-a") -> tuple[float | None, float | None, float | None]:
    """When the instance's latest run, reset and drift check finished (hours after T)."""
    row = AutomationInstance.objects.get(target__name=target)
    return hours(row.last_run_at), hours(row.last_reset_at), hours(row.drift_checked_at)


def test_instances_follow_runs_as_they_arrive() -> None:
    record(run("a1", 1, version="1.0"), run("p1", 2, action="plan", drift_detected=False))

    assert instance() == (2, 1, 2)  # a plan does not reset the lag

    record(run("a2", 3, status="failure"), run("d1", 4, action="plan", drift_detected=True))
    assert instance() == (4, 1, 4)
    kept = AutomationInstance.objects.get()
    assert (kept.last_reset_version, kept.last_reset_action, kept.drift_detected) == (
        "1.0",
        "apply",
        True,
    )

    record(run("a3", 5, trigger="manual"))
    assert instance() == (5, 5, 4)
    assert AutomationInstance.objects.get().last_reset_trigger == "manual"


def test_instances_follow_a_run_resent_to_another_target_and_later_in_time() -> None:
    record(run("a1", 1), run("a2", 2))

    record(run("a2", 2, target="s-b"))  # the same run, corrected: it ran on s-b

    assert instance("s-a") == (1, 1, None)
    assert instance("s-b") == (2, 2, None)

    record(run("a1", 3, target="s-b"))  # and a1 too: s-a has no runs left
    assert not AutomationInstance.objects.filter(target__name="s-a").exists()
    assert instance("s-b") == (3, 3, None)


def test_rebuild_gives_what_intake_kept() -> None:
    record(run("a1", 1), run("a2", 2, target="s-b"), run("p1", 3, action="plan"))
    fields = ("target_id", "last_run_at", "last_reset_at", "drift_checked_at")
    kept = set(AutomationInstance.objects.values_list(*fields))

    assert automation_instances_rebuild() == 2
    rebuilt = set(AutomationInstance.objects.values_list(*fields))
    assert rebuilt == kept


def gate_view(now: datetime, *, reads: int) -> tuple[Any, ...]:
    """What the gate reads; `reads` is 1 from the kept instances, 2 when it had to probe."""
    network = Service.objects.get(name="network")
    staging = Environment.objects.get(name="staging")
    production, _ = Environment.objects.get_or_create(name="production")
    at = {"now": now, "service": network.pk, "source": staging.pk, "destination": production.pk}
    with CaptureQueriesContext(connection) as captured:
        seen = _automation_instances(at)
    assert len(captured) == reads
    return seen


def probed(now: datetime) -> list[tuple[Any, ...]]:
    network = Service.objects.get(name="network")
    staging = Environment.objects.get(name="staging")
    production = Environment.objects.get(name="production")
    at = {"now": now, "service": network.pk, "source": staging.pk, "destination": production.pk}
    return _rows(_INSTANCES_PROBED_SQL, at)


def test_deleting_runs_in_the_admin_refreshes_their_instances(admin_client) -> None:
    Service.objects.create(name="network", kind="infra")
    record(run("a1", 1), run("a2", 2), run("b1", 3, target="s-b"))
    later = T + timedelta(days=1)
    assert gate_view(later, reads=1)[0].last_success_at == T + timedelta(hours=2)
    a2 = AutomationRun.objects.get(external_id="automation_run:a2")
    b1 = AutomationRun.objects.get(external_id="automation_run:b1")

    admin_client.post(reverse("admin:dora_automationrun_delete", args=[a2.pk]), {"post": "yes"})
    admin_client.post(
        reverse("admin:dora_automationrun_changelist"),
        {"action": "delete_selected", "_selected_action": [b1.pk], "post": "yes"},
    )

    assert not AutomationRun.objects.filter(pk__in=[a2.pk, b1.pk]).exists()
    (seen,) = gate_view(later, reads=1)
    assert (seen.target, seen.last_success_at) == ("s-a", T + timedelta(hours=1))


def test_gate_reads_runs_as_of_a_moment_before_the_latest_run() -> None:
    Service.objects.create(name="network", kind="infra")
    record(run("a1", 1), run("a2", 20))

    (seen,) = gate_view(T + timedelta(hours=10), reads=2)

    assert seen.last_success_at == T + timedelta(hours=1)


def test_gate_fast_and_probed_reads_agree_on_the_demo_estate() -> None:
    from django.core.management import call_command

    call_command("seed_demo", weeks=3, now="2026-03-02T12:00:00Z", stdout=_Null(), stderr=_Null())
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    staging = Environment.objects.get(name="staging")
    production = Environment.objects.get(name="production")
    compared = 0
    for service in Service.objects.all():
        at = {"now": now, "service": service.pk, "source": staging.pk, "destination": production.pk}
        with CaptureQueriesContext(connection) as captured:
            fast = _automation_instances(at)
        assert len(captured) == 1  # the kept instances, not the runs
        slow = _rows(_INSTANCES_PROBED_SQL, at)
        assert [(i.service, i.environment, i.target) for i in fast] == [
            r[:1] + r[2:4] for r in slow
        ]
        assert [i.last_success_at for i in fast] == [_aware(r[4]) for r in slow]
        assert [i.drift_detected for i in fast] == [
            None if r[8] is None else bool(r[8]) for r in slow
        ]
        compared += len(fast)
    assert compared > 10


def _aware(value: Any) -> Any:
    from dora.prepared import aware

    return aware(value)


class _Null:
    def write(self, *_: Any) -> None:
        pass

    def flush(self) -> None:
        pass


def test_gate_reads_kept_instances_despite_a_runner_clock_a_few_minutes_ahead() -> None:
    Service.objects.create(name="network", kind="infra")
    record(run("a1", 1), run("a2", 5))

    (seen,) = gate_view(T + timedelta(hours=5) - timedelta(minutes=4), reads=1)
    assert seen.last_success_at == T + timedelta(hours=5)  # reported 4 minutes "ahead"

    (seen,) = gate_view(T + timedelta(hours=4), reads=2)  # an hour before: the runs decide
    assert seen.last_success_at == T + timedelta(hours=1)
