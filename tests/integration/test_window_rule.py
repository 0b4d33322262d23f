"""One window rule on the demo estate: a team's figures on the overview, on its team page and in
the API are the same numbers over the same local weeks; snapshots are keyed by the window; the
gate decisions list narrows to a window when asked."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from dora.models import ApiToken, GateDecision
from dora.web.access import LEADERSHIP_GROUP

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

NOW = "2026-03-02T12:00:00Z"  # a Monday: the demo's history ends here
# The 4 whole weeks Mon 2 Feb – Sun 1 Mar 2026, named by a day of their last week.
WINDOW = {"range": "4w", "end": "2026-02-25"}


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", weeks=13, now=NOW, stdout=io.StringIO(), stderr=io.StringIO())
        yield
        transaction.set_rollback(True)


def lead() -> Client:
    user = User.objects.create_user("lead-window", password="pw")
    user.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    client = Client()
    client.force_login(user)
    return client


def test_window_team_figures_agree_on_overview_team_page_and_api(demo) -> None:
    client = lead()
    overview = client.get("/dashboards/", WINDOW)
    assert overview.status_code == 200
    assert overview.context["window"].text == "4 weeks, Mon 2 Feb – Sun 1 Mar 2026, UTC"
    rows = {row["team"]: row for row in overview.context["teams"] if row["team"]}
    assert {"payments", "discovery", "legacy-core"} <= set(rows)
    _, raw = ApiToken.issue(name="window", scope="read")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for team, row in rows.items():
        page = client.get("/dashboards/team", {"team": team, **WINDOW})
        assert page.status_code == 200
        window = page.context["window"]
        assert (window.first.isoformat(), window.last.isoformat()) == ("2026-02-02", "2026-03-01")
        on_overview = [(c["figure"].key, c["figure"].text, c["figure"].n) for c in row["cells"]]
        on_page = [
            (c["figure"].key, c["figure"].text, c["figure"].n) for c in page.context["figures"]
        ]
        assert sorted(on_overview) == sorted(on_page), team
        # The API over the same default-free window: the same counts and rates.
        report = api.get("/api/v1/metrics", {"team": team, **WINDOW}).json()
        assert report["window"] == {
            "since": window.since.isoformat().replace("+00:00", "Z"),
            "until": window.until.isoformat().replace("+00:00", "Z"),
        }
        figures = {c["figure"].key: c["figure"] for c in row["cells"]}
        assert report["change_failure_rate"]["rollouts"] == figures["change_failure_rate"].n
        assert report["change_failure_rate"]["rate"] == figures["change_failure_rate"].value
        assert report["lead_time"]["n"] == figures["lead_time"].n
        assert report["lead_time"]["p50_seconds"] == figures["lead_time"].value
    # A Berlin team's window starts at its own midnight: 23:00 UTC the day before (CET).
    assert client.get("/dashboards/team", {"team": "payments", **WINDOW}).context[
        "window"
    ].since == datetime(2026, 2, 1, 23, tzinfo=UTC)


def test_window_legacy_until_reads_as_the_weeks_before_its_monday(demo) -> None:
    page = lead().get("/dashboards/team", {"team": "payments", "until": NOW})
    window = page.context["window"]
    # Monday 2 Mar 12:00Z: the 4 weeks ending Sunday 1 Mar (Europe/Berlin).
    assert (window.range, window.first.isoformat(), window.last.isoformat()) == (
        "4w",
        "2026-02-02",
        "2026-03-01",
    )


def test_window_bad_window_parameters_are_400(demo) -> None:
    client = lead()
    response = client.get("/dashboards/", {"range": "5w"})
    assert response.status_code == 400
    assert "must be one of 1w, 4w, 12w, q, custom" in response.content.decode()
    assert client.get("/dashboards/team", {"team": "payments", "end": "soon"}).status_code == 400


def test_window_gate_decisions_narrow_to_the_window(demo) -> None:
    for day in (3, 20):  # Tue 3 Feb (inside the window) and Fri 20 Mar (after it)
        GateDecision.objects.create(
            id=uuid.uuid4(),
            evaluated_at=datetime(2026, 2 if day == 3 else 3, day, 11, tzinfo=UTC),
            service="checkout",
            version=f"v{day}",
            from_env="staging",
            to_env="production",
            requested_by="token:ci",
            allowed=True,
            checks=[],
        )
    client = lead()
    everything = client.get("/dashboards/gate")
    narrowed = client.get("/dashboards/gate", WINDOW)
    assert narrowed.status_code == 200
    inside = GateDecision.objects.filter(
        evaluated_at__gte=datetime(2026, 2, 2, tzinfo=UTC),
        evaluated_at__lt=datetime(2026, 3, 2, tzinfo=UTC),
    )
    assert narrowed.context["total"] == inside.count() < everything.context["total"]
    shown = {row["decision"].version for row in narrowed.context["rows"]}
    assert "v20" not in shown
    assert "4 weeks, Mon 2 Feb – Sun 1 Mar 2026, UTC" in narrowed.content.decode()
    assert "Every decision, newest first" in everything.content.decode()
