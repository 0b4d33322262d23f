"""Dashboard snapshots: a page's figures kept for the next viewer, computed again after every
change to the facts (dora.generation), never shared between viewers who see different things."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dora.config import config_apply, config_load
from dora.generation import facts_generation
from dora.intake.derive import pending_derive
from dora.intake.events import events_record
from dora.models import Team
from dora.web.access import LEADERSHIP_GROUP

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.snapshots,
    pytest.mark.usefixtures("plain_static"),
]

NOW = datetime.now(UTC).replace(microsecond=0)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
ESTATE = """\
teams:
  - name: payments
    members: [alice]
  - name: search
services:
  - name: checkout
    team: payments
  - name: finder
    team: search
environments:
  - name: production
    tier: production
"""


def deploy(ident: str, service: str, version: str, *, hours: float) -> dict[str, Any]:
    moment = (NOW - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
    return {
        "type": "deployment",
        "id": ident,
        "service": service,
        "environment": "production",
        "target": "eu",
        "version": version,
        "status": "success",
        "finished_at": moment,
    }


@pytest.fixture(autouse=True)
def _fresh_only(request: pytest.FixtureRequest, settings) -> None:
    """Pages never shown older than the facts, but in the tests that say otherwise (with a
    broker configured, as in CI, they would be, waiting for a worker that does not listen)."""
    if request.node.get_closest_marker("broker") is None:
        settings.DORA_DASHBOARD_STALE_SECONDS = 0


@pytest.fixture
def committed(django_capture_on_commit_callbacks) -> Callable[[Callable[[], Any]], Any]:
    """Run a write as if its transaction committed: its on_commit callbacks run."""

    def run(write: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return write()

    return run


@pytest.fixture
def estate(committed) -> None:
    committed(lambda: config_apply(config_load(ESTATE)))
    committed(
        lambda: events_record(
            [
                # the team page's window is the 12 full weeks before this Monday
                deploy("c1", "checkout", "v1.0.0", hours=30 * 24),
                deploy("c2", "checkout", "v1.1.0", hours=10 * 24),
                deploy("f1", "finder", "v7.0.0", hours=9 * 24),
            ]
        )
    )


def viewer(username: str, *, leadership: bool = False) -> Client:
    user = User.objects.create_user(username)
    if leadership:
        user.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, path: str) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode(), [q["sql"] for q in queries.captured_queries]


def test_every_writer_moves_the_facts_generation(estate: None, committed) -> None:
    from dora.models import Service

    seen = [facts_generation()]
    committed(lambda: events_record([deploy("c3", "checkout", "v1.2.0", hours=1)]))
    seen.append(facts_generation())
    committed(lambda: events_record([deploy("c3", "checkout", "v1.2.0", hours=1)]))  # again
    seen.append(facts_generation())
    committed(lambda: config_apply(config_load(ESTATE), dry_run=True))
    seen.append(facts_generation())
    committed(lambda: config_apply(config_load(ESTATE.replace("[alice]", "[alice, bob]"))))
    seen.append(facts_generation())
    admin = User.objects.create_user("admin", is_staff=True, is_superuser=True)
    committed(
        lambda: LogEntry.objects.create(
            user=admin,
            content_type=ContentType.objects.get_for_model(Service),
            object_id="1",
            object_repr="checkout",
            action_flag=CHANGE,
        )
    )
    seen.append(facts_generation())
    committed(pending_derive)  # nothing pending: nothing derived
    seen.append(facts_generation())

    new, same, dry, config, edit, idle = (b - a for a, b in zip(seen, seen[1:], strict=False))
    assert new >= 1  # the records, then the derivation of what they touched
    assert (same, dry, idle) == (0, 0, 0)
    assert config >= 1 and edit == 1


def test_the_team_page_is_kept_and_computed_again_after_intake(estate: None, committed) -> None:
    leader = viewer("lead", leadership=True)

    first, _ = page(leader, "/dashboards/team?team=payments")
    again, kept = page(leader, "/dashboards/team?team=payments")
    committed(lambda: events_record([deploy("c4", "checkout", "v1.9.0", hours=8 * 24)]))
    after, recomputed = page(leader, "/dashboards/team?team=payments")

    assert "v1.1.0" in first and "v1.9.0" not in first
    assert "v1.9.0" not in again
    # kept: the session, the user, the groups and the generation; no figure read again
    assert not any("dora_rollout" in sql or "dora_deployment" in sql for sql in kept)
    assert any("dora_rollout" in sql for sql in recomputed)
    assert "v1.9.0" in after


def test_viewers_who_see_different_teams_never_share_a_snapshot(estate: None) -> None:
    leader, alice = viewer("lead", leadership=True), viewer("alice")

    everything, _ = page(leader, "/dashboards/")
    hers, _ = page(alice, "/dashboards/")
    estate_all, _ = page(leader, "/dashboards/estate")
    estate_hers, _ = page(alice, "/dashboards/estate")

    assert "search" in everything and "payments" in everything
    assert "payments" in hers and ">search<" not in hers and "team=search" not in hers
    assert "finder" in estate_all and "finder" not in estate_hers


def test_a_team_edit_in_the_admin_reaches_the_next_page(estate: None, committed) -> None:
    alice = viewer("alice")
    before, _ = page(alice, "/dashboards/estate")
    Team.objects.filter(name="search").update(members=["alice"])  # the admin's change ...
    committed(
        lambda: LogEntry.objects.create(  # ... and the entry it writes
            user=User.objects.create_user("admin", is_staff=True),
            content_type=ContentType.objects.get_for_model(Team),
            object_id=str(Team.objects.get(name="search").pk),
            object_repr="search",
            action_flag=CHANGE,
        )
    )
    after, _ = page(alice, "/dashboards/estate")

    assert "finder" not in before
    assert "finder" in after


@pytest.mark.parametrize(
    "path",
    [
        "/dashboards/",
        "/dashboards/team?team=payments",
        "/dashboards/service?service=checkout",
        "/dashboards/explain/deployment_frequency?team=payments",
        "/dashboards/estate",
        "/dashboards/report",
        "/dashboards/report.csv",
    ],
)
def test_every_kept_page_answers_the_same_from_its_snapshot(estate: None, path: str) -> None:
    leader = viewer("lead", leadership=True)

    computed, _ = page(leader, path)
    kept, statements = page(leader, path)

    # kept through the cache's pickling, rendered alike (but for the logout form's CSRF token)
    assert CSRF.sub("", kept) == CSRF.sub("", computed)
    assert not any("dora_rollout" in sql or "dora_deployment" in sql for sql in statements)


def test_two_figures_of_one_scope_never_share_an_explain_snapshot(estate: None) -> None:
    leader = viewer("lead", leadership=True)

    lead_time, _ = page(leader, "/dashboards/explain/lead_time?team=payments")
    frequency, _ = page(leader, "/dashboards/explain/deployment_frequency?team=payments")

    assert "v1.1.0" in frequency  # the rollouts counted, which the lead-time list does not show
    assert CSRF.sub("", frequency) != CSRF.sub("", lead_time)


def test_the_leadership_report_page_its_pdf_and_csv_share_one_snapshot(estate: None) -> None:
    leader = viewer("lead", leadership=True)

    page(leader, "/dashboards/report")
    _, csv_statements = page(leader, "/dashboards/report.csv")

    assert not any("dora_rollout" in sql or "dora_deployment" in sql for sql in csv_statements)


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_changed_page_is_shown_as_it_was_while_a_worker_computes_it_again(
    celery_worker_process, settings
) -> None:
    import time

    import redis

    from tests.conftest import snapshot_cache_url

    url = snapshot_cache_url()
    server = redis.Redis.from_url(url)
    for stale_key in server.scan_iter("*dora:page:*"):  # a previous run's
        server.delete(stale_key)
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    settings.DORA_DASHBOARD_REFRESH_QUEUE = celery_worker_process.queue  # the one it consumes
    config_apply(config_load(ESTATE))
    events_record([deploy("c2", "checkout", "v1.1.0", hours=10 * 24)])
    leader = viewer("lead", leadership=True)
    path = "/dashboards/team?team=payments"

    first, _ = page(leader, path)
    events_record([deploy("c4", "checkout", "v1.9.0", hours=8 * 24)])  # commits: new facts
    stale, _ = page(leader, path)
    deadline, fresh, statements = time.monotonic() + 60, stale, []
    while "snapshot-as-of" in fresh and time.monotonic() < deadline:
        time.sleep(0.5)
        fresh, statements = page(leader, path)

    assert "v1.1.0" in first and "snapshot-as-of" not in first
    assert "snapshot-as-of" in stale and "v1.9.0" not in stale  # shown as it was, and says so
    assert "snapshot-as-of" not in fresh, "the worker did not compute the page again in 60 s"
    assert "v1.9.0" in fresh
    assert not any("dora_rollout" in sql for sql in statements)  # the worker's, kept


def test_a_download_is_never_older_than_the_facts(estate: None, committed, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as with a worker: pages may be shown stale
    settings.DORA_DASHBOARD_STALE_SECONDS = 900
    leader = viewer("lead", leadership=True)

    page(leader, "/dashboards/report.csv")
    committed(lambda: events_record([deploy("c5", "checkout", "v2.0.0", hours=8 * 24)]))
    _, statements = page(leader, "/dashboards/report.csv")

    assert any("dora_rollout" in sql for sql in statements)  # computed again, not the old one


def test_the_organisation_pages_are_prepared_before_anyone_asks(estate: None, committed) -> None:
    from dora.web.snapshots import snapshots_prepare

    def reads_figures() -> bool:
        with CaptureQueriesContext(connection) as queries:
            snapshots_prepare()
        return any("dora_rollout" in q["sql"] for q in queries.captured_queries)

    nobody = snapshots_prepare()  # no one sees everything yet: nothing to prepare for
    User.objects.create_superuser("root", password="not-used")
    first, again = reads_figures(), reads_figures()
    _, leader_statements = page(viewer("lead", leadership=True), "/dashboards/")
    committed(lambda: events_record([deploy("c6", "checkout", "v3.0.0", hours=8 * 24)]))
    after_intake = reads_figures()

    assert nobody == 0
    assert first and not again and after_intake  # computed, kept, computed after intake
    assert not any("dora_rollout" in sql for sql in leader_statements)  # the prepared overview


def figures_read(statements: list[str]) -> bool:
    return any("dora_rollout" in sql or "dora_deployment" in sql for sql in statements)


def test_the_teams_weeks_are_prepared_and_serve_their_members(estate: None, committed) -> None:
    from dora.web.snapshots import PREPARED_PAGES, snapshots_prepare

    User.objects.create_superuser("root", password="not-used")
    alice = viewer("alice")  # a member of payments only

    prepared = snapshots_prepare()
    week, statements = page(alice, "/dashboards/team?team=payments")
    explain_lead, _ = page(
        viewer("lead", leadership=True), "/dashboards/explain/deployment_frequency?team=payments"
    )
    explain_alice, explain_statements = page(
        alice, "/dashboards/explain/deployment_frequency?team=payments"
    )
    denied = alice.get("/dashboards/team?team=search")  # prepared too, but not hers

    assert prepared == len(PREPARED_PAGES) + 2  # and the weeks of payments and search
    assert "checkout" in week and not figures_read(statements)  # the prepared week
    assert not figures_read(explain_statements)  # the leader's explain list, shared
    main = re.compile(r"<main.*</main>", re.S)
    assert main.search(explain_alice)[0] == main.search(explain_lead)[0]  # navigation differs
    assert denied.status_code == 403


def test_the_teams_weeks_are_left_out_when_asked(estate: None, settings) -> None:
    from dora.web.snapshots import PREPARED_PAGES, snapshots_prepare

    settings.DORA_DASHBOARD_PREPARE_TEAMS = False
    User.objects.create_superuser("root", password="not-used")

    prepared = snapshots_prepare()
    _, statements = page(viewer("alice"), "/dashboards/team?team=payments")

    assert prepared == len(PREPARED_PAGES)
    assert figures_read(statements)  # computed for its first viewer


def test_one_page_failing_leaves_the_others_prepared(estate: None, monkeypatch, caplog) -> None:
    from dora.web import weeks
    from dora.web.snapshots import snapshots_prepare

    computed = weeks._team_figures

    def broken_for_payments(name: str, *args: Any) -> dict[str, Any]:
        if name == "payments":
            raise RuntimeError("payments is broken")
        return computed(name, *args)

    monkeypatch.setattr(weeks, "_team_figures", broken_for_payments)
    User.objects.create_superuser("root", password="not-used")

    snapshots_prepare()
    _, statements = page(viewer("lead", leadership=True), "/dashboards/team?team=search")

    assert not figures_read(statements)  # search's week, prepared after payments failed
    assert "/dashboards/team?team=payments failed" in caplog.text


def test_a_snapshot_is_keyed_by_its_window_not_by_how_the_url_names_it(estate: None) -> None:
    from django.utils import timezone

    from dora.window import window_parse

    leader = viewer("lead", leadership=True)
    latest = window_parse(now=timezone.now(), tz="UTC").last  # payments' zone here

    _, first = page(leader, "/dashboards/team?team=payments")
    # The same window named by the overview's link: served from the same snapshot.
    _, named = page(leader, f"/dashboards/team?team=payments&range=4w&end={latest}")
    # Another window: computed.
    _, earlier = page(leader, "/dashboards/team?team=payments&range=4w&end=2026-01-04")

    assert figures_read(first)
    assert not figures_read(named)
    assert figures_read(earlier)


def test_the_default_window_moves_on_monday_and_so_does_its_snapshot(estate: None) -> None:
    from unittest import mock

    from django.utils import timezone

    leader = viewer("lead", leadership=True)
    path = "/dashboards/team?team=payments"  # no window named: the last 4 complete weeks
    sunday = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # payments' zone here is UTC
    monday = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)

    with mock.patch.object(timezone, "now", lambda: sunday):
        _, first = page(leader, path)
        _, again = page(leader, path)
    with mock.patch.object(timezone, "now", lambda: monday):
        _, next_week = page(leader, path)

    assert figures_read(first) and not figures_read(again)
    assert figures_read(next_week)  # a new week ended: not last week's snapshot
