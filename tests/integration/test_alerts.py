"""Alerts (issue 19): a condition fires once, again only after it cleared; stale environments,
spread over its limit and blocked promotions as conditions; the teams' channels in the
configuration file; the admin's lists. (Delivery: test_alerts_delivery.py.)

The clock is passed in (`now=`). Every expected value is worked out by hand in the comments.
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from dora.alerts.evaluate import Condition, alerts_evaluate
from dora.config import config_apply, config_load
from dora.models import AlertChannel, AlertDelivery, AlertState, ApiToken, GateSettings, Team
from tests.alerts_helpers import (
    BROKEN,
    ESTATE,
    GATE,
    SCRIPT,
    SCRIPTED,
    SPREAD,
    STALE,
    channel,
    decision,
    deliveries,
    script_cleared,  # noqa: F401 (autouse)
    states,
)
from tests.builders import deployment, when
from tests.integration.test_request_bounds import post_events, token_client

pytestmark = pytest.mark.django_db

# --------------------------------------------------------------------------------------------
# Fire once, clear, fire again
# --------------------------------------------------------------------------------------------


def test_a_condition_fires_once_clears_and_fires_again_only_after_it_cleared() -> None:
    config_apply(config_load(ESTATE))
    channel("email", address="oncall@example.com")
    channel("email", team="search", address="search@example.com")
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    SCRIPT.append(Condition(key="scripted:a", team="payments", title="A"))

    first = alerts_evaluate(now=t, providers=SCRIPTED)
    again = alerts_evaluate(now=t + timedelta(minutes=5), providers=SCRIPTED)

    assert first.fired == ("payments/scripted:a",)
    assert again.fired == () and again.cleared == ()
    state = states()["scripted:a"]
    assert (state.active, state.fired_count, state.first_fired_at) == (True, 1, t)
    assert state.last_seen_at == t + timedelta(minutes=5)
    # One channel for payments, one message: search's channel hears nothing of payments.
    assert deliveries() == [("scripted:a", "fired", "email")]

    SCRIPT.clear()
    gone = alerts_evaluate(now=t + timedelta(minutes=10), providers=SCRIPTED)
    still_gone = alerts_evaluate(now=t + timedelta(minutes=15), providers=SCRIPTED)
    assert gone.cleared == ("payments/scripted:a",) and still_gone.cleared == ()
    state.refresh_from_db()
    assert (state.active, state.cleared_at) == (False, t + timedelta(minutes=10))

    SCRIPT.append(Condition(key="scripted:a", team="payments", title="A"))
    back = alerts_evaluate(now=t + timedelta(minutes=20), providers=SCRIPTED)
    assert back.fired == ("payments/scripted:a",)
    state.refresh_from_db()
    assert (state.active, state.fired_count, state.cleared_at) == (True, 2, None)
    assert (state.first_fired_at, state.fired_at) == (t, t + timedelta(minutes=20))
    assert deliveries() == [
        ("scripted:a", "cleared", "email"),
        ("scripted:a", "fired", "email"),
        ("scripted:a", "fired", "email"),
    ]


def test_a_failing_provider_clears_nothing_and_another_provider_goes_on() -> None:
    config_apply(config_load(ESTATE))
    channel("email", address="oncall@example.com")
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    SCRIPT.append(Condition(key="scripted:a", team="payments", title="A"))
    alerts_evaluate(now=t, providers=SCRIPTED)

    SCRIPT.clear()
    result = alerts_evaluate(now=t, providers=[*SCRIPTED, BROKEN])
    # scripted answered (nothing): its condition cleared; broken raised: listed, nothing else.
    assert result.cleared == ("payments/scripted:a",)
    assert result.failed_providers == (BROKEN,)


def test_a_team_without_a_channel_records_nothing_until_it_adds_one() -> None:
    config_apply(config_load(ESTATE))
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    SCRIPT.append(Condition(key="scripted:a", team="payments", title="A"))

    assert alerts_evaluate(now=t, providers=SCRIPTED).fired == ()
    assert AlertState.objects.count() == 0
    disabled = channel("email", address="oncall@example.com", enabled=False)
    assert alerts_evaluate(now=t, providers=SCRIPTED).fired == ()

    # The channel enabled: the condition active then fires to it.
    AlertChannel.objects.filter(pk=disabled.pk).update(enabled=True)
    assert alerts_evaluate(now=t, providers=SCRIPTED).fired == ("payments/scripted:a",)
    assert deliveries() == [("scripted:a", "fired", "email")]


# --------------------------------------------------------------------------------------------
# Stale environments
# --------------------------------------------------------------------------------------------


def test_an_environment_crossing_stale_after_fires_once_clears_on_a_deploy_and_fires_again() -> (
    None
):
    config_apply(config_load(ESTATE))
    channel("email", address="oncall@example.com")
    post_events([deployment("p1", "c1", hours=0, version="v1")])  # shop v1 to production, T0

    # production's stale_after is 3 days: at T0 + 2 d the newest deploy is 2 d old, fresh.
    assert alerts_evaluate(now=when(days=2), providers=STALE).fired == ()
    # At T0 + 3 d 1 h it is 3 d 1 h old > 3 d: stale.
    crossed = alerts_evaluate(now=when(days=3, hours=1), providers=STALE)
    assert crossed.fired == ("payments/stale:shop@production",)
    state = states()["stale:shop@production"]
    assert state.title == "shop in production is stale"
    # A deploy pipeline's lag: 3 d 1 h since its last successful deploy.
    assert state.detail == "automation lag 3d 1h > stale after 3d"
    assert state.link == "/dashboards/service?service=shop"
    # Evaluated again a day later: still stale, still one alert.
    assert alerts_evaluate(now=when(days=4, hours=1), providers=STALE).fired == ()
    assert deliveries() == [("stale:shop@production", "fired", "email")]

    # v2 deployed at T0 + 5 d: at T0 + 5 d 1 h it is 1 h old, so the condition clears.
    post_events([deployment("p2", "c2", hours=5 * 24, version="v2")])
    cleared = alerts_evaluate(now=when(days=5, hours=1), providers=STALE)
    assert cleared.cleared == ("payments/stale:shop@production",)
    # Three days and an hour after v2 (T0 + 8 d 1 h): stale again, fires a second time.
    assert alerts_evaluate(now=when(days=7), providers=STALE).fired == ()
    again = alerts_evaluate(now=when(days=8, hours=1), providers=STALE)
    assert again.fired == ("payments/stale:shop@production",)
    state.refresh_from_db()
    assert (state.active, state.fired_count) == (True, 2)
    assert deliveries() == [
        ("stale:shop@production", "cleared", "email"),
        ("stale:shop@production", "fired", "email"),
        ("stale:shop@production", "fired", "email"),
    ]
    payload = AlertDelivery.objects.filter(event="cleared").get().payload
    assert payload["event"] == "cleared"
    assert payload["url"] == "http://localhost:8000/dashboards/service?service=shop"


# --------------------------------------------------------------------------------------------
# Version spread over its limit
# --------------------------------------------------------------------------------------------


def test_a_spread_over_its_limit_fires_and_clears_when_the_rollout_completes() -> None:
    config_apply(config_load(ESTATE))
    channel("email", address="oncall@example.com")
    post_events(
        [
            deployment("eu1", "c1", hours=0, target="eu", version="v1"),
            deployment("us1", "c1", hours=0, target="us", version="v1"),
            deployment("eu2", "c2", hours=1, target="eu", version="v2"),
        ]
    )
    # At T0 + 2 h: eu runs v2, us v1: 2 versions live > the default limit of 1.
    fired = alerts_evaluate(now=when(hours=2), providers=SPREAD)
    assert fired.fired == ("payments/spread:shop@production",)
    state = states()["spread:shop@production"]
    assert state.title == "shop in production: 2 versions live"
    assert "more than the limit of 1" in state.detail

    # gates.defaults.max_spread 2 allows it: the condition ends.
    GateSettings.objects.create(max_spread=2)
    assert alerts_evaluate(now=when(hours=3), providers=SPREAD).cleared == (
        "payments/spread:shop@production",
    )
    GateSettings.objects.all().delete()
    # Back to a limit of 1 (fires again), then us gets v2 at T0 + 4 h: 1 version, cleared.
    back = alerts_evaluate(now=when(hours=3) + timedelta(minutes=30), providers=SPREAD)
    assert back.fired == ("payments/spread:shop@production",)
    post_events([deployment("us2", "c2", hours=4, target="us", version="v2")])
    assert alerts_evaluate(now=when(hours=5), providers=SPREAD).cleared == (
        "payments/spread:shop@production",
    )


def test_a_spread_rule_switching_the_check_off_for_an_environment_silences_it() -> None:
    config_apply(
        config_load(
            ESTATE
            + "gates:\n  rules:\n    - to: production\n"
            + "      checks:\n        target_rollout_complete: off\n"
        )
    )
    channel("email", address="oncall@example.com")
    post_events(
        [
            deployment("eu1", "c1", hours=0, target="eu", version="v1"),
            deployment("us1", "c2", hours=1, target="us", version="v2"),
        ]
    )
    assert alerts_evaluate(now=when(hours=2), providers=SPREAD).fired == ()


# --------------------------------------------------------------------------------------------
# Blocked promotions
# --------------------------------------------------------------------------------------------


def test_a_blocked_promotion_fires_once_per_decision() -> None:
    config_apply(config_load(ESTATE))
    channel("email", address="oncall@example.com")
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    first = decision("shop", at=t - timedelta(minutes=2))
    decision("shop", at=t - timedelta(minutes=1), allowed=True)  # allowed: no alert
    decision("shop", at=t - timedelta(hours=2))  # before the 1 h window: no alert

    result = alerts_evaluate(now=t, providers=GATE)
    assert result.fired == (f"payments/gate:{first.pk}",)
    state = states()[f"gate:{first.pk}"]
    assert state.title == "Promotion of shop v9 staging → production blocked"
    assert state.detail == "Blocked for ci. version_verified_in_source: v9 never ran in staging"
    assert state.link == f"/dashboards/gate/{first.pk}"
    # An event: recorded as cleared at once, and no "resolved" message is ever sent.
    assert (state.active, state.cleared_at) == (False, t)

    second = decision("shop", at=t + timedelta(minutes=1))
    later = alerts_evaluate(now=t + timedelta(minutes=5), providers=GATE)
    assert later.fired == (f"payments/gate:{second.pk}",)  # the first does not fire again
    assert later.cleared == ()
    assert alerts_evaluate(now=t + timedelta(hours=2), providers=GATE).fired == ()
    assert deliveries() == sorted(
        [(f"gate:{first.pk}", "fired", "email"), (f"gate:{second.pk}", "fired", "email")]
    )


def test_the_gate_queues_the_blocked_promotions_evaluation_after_its_answer(
    monkeypatch: pytest.MonkeyPatch, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    import dora.tasks

    config_apply(config_load(ESTATE))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued: list[tuple[str, str]] = []
    sent = threading.Event()

    def task_send(task: Any, **kw: Any) -> None:
        queued.append((task.name, threading.current_thread().name))
        sent.set()

    monkeypatch.setattr(dora.tasks, "task_send", task_send)
    body = {"service": "shop", "version": "v9", "from": "staging", "to": "production"}

    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(ApiToken.Scope.GATE).post(
            "/api/v1/gates/promotion", body, format="json"
        )

    # v9 never ran in staging: blocked. The evaluation is queued by the trigger's own thread,
    # not the request's, and nothing is sent from the gate.
    assert response.status_code == 409
    assert sent.wait(timeout=5)
    assert queued == [("dora.tasks.alerts_gate_blocks_task", "dora-alerts-gate-trigger")]
    assert AlertDelivery.objects.count() == 0


def test_the_trigger_folds_wakes_during_a_slow_send_into_one_more_send() -> None:
    from dora.alerts.trigger import Coalescer

    release, first_started, done = threading.Event(), threading.Event(), threading.Event()
    sends: list[int] = []

    def send() -> None:
        sends.append(len(sends) + 1)
        if len(sends) == 1:
            first_started.set()
            release.wait(timeout=5)  # a slow broker
        else:
            done.set()

    trigger = Coalescer(send, name="test-trigger")
    trigger.wake()
    assert first_started.wait(timeout=5)
    for _ in range(3):  # three more blocks while the first send hangs: returns at once
        trigger.wake()
    release.set()

    assert done.wait(timeout=5)
    assert sends == [1, 2]  # the three wakes became one send


# --------------------------------------------------------------------------------------------
# Configuration and admin
# --------------------------------------------------------------------------------------------

WITH_CHANNELS = """\
teams:
  - name: payments
    alerts:
      - slack: {webhook_url_env: SLACK_PAYMENTS}
      - email: [oncall@example.com]
      - webhook: {url: "https://hooks.example.com/dora", secret_env: DORA_HOOK_SECRET}
"""


def test_apply_config_manages_the_files_channels_and_leaves_the_admins_alone() -> None:
    diff = config_apply(config_load(WITH_CHANNELS))
    assert "+ alert channel payments: slack $SLACK_PAYMENTS" in diff.lines
    assert "+ alert channel payments: email oncall@example.com" in diff.lines
    assert (
        "+ alert channel payments: webhook https://hooks.example.com/dora "
        "signed ($DORA_HOOK_SECRET)"
    ) in diff.lines
    assert config_apply(config_load(WITH_CHANNELS)).lines == ()
    channel("email", address="manager@example.com")  # added in the admin

    fewer = WITH_CHANNELS.replace("      - email: [oncall@example.com]\n", "")
    diff = config_apply(config_load(fewer))
    assert diff.lines == ("- alert channel payments: email oncall@example.com",)
    kinds = sorted(AlertChannel.objects.values_list("kind", "address", "configured"))
    assert kinds == [
        ("email", "manager@example.com", False),
        ("slack", "", True),
        ("webhook", "https://hooks.example.com/dora", True),
    ]
    # A team whose entry gives no alerts: keeps its channels.
    assert config_apply(config_load("teams:\n  - name: payments\n")).lines == ()
    assert AlertChannel.objects.count() == 3


def test_the_admin_lists_channels_states_and_failed_deliveries(admin_client: Any) -> None:
    config_apply(config_load(ESTATE))
    email = channel("email", address="oncall@example.com")
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    SCRIPT.append(Condition(key="scripted:a", team="payments", title="Shop is stale"))
    alerts_evaluate(now=t, providers=SCRIPTED)
    AlertDelivery.objects.update(status="failed", attempts=5, last_error="email: SMTPException")
    state = AlertState.objects.get()

    pages = {
        "channels": admin_client.get(reverse("admin:dora_alertchannel_changelist")),
        "channel": admin_client.get(reverse("admin:dora_alertchannel_change", args=[email.pk])),
        "states": admin_client.get(reverse("admin:dora_alertstate_changelist")),
        "state": admin_client.get(reverse("admin:dora_alertstate_change", args=[state.pk])),
        "failed": admin_client.get(
            reverse("admin:dora_alertdelivery_changelist") + "?status__exact=failed"
        ),
        "sent": admin_client.get(
            reverse("admin:dora_alertdelivery_changelist") + "?status__exact=sent"
        ),
    }

    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    assert b"oncall@example.com" in pages["channels"].content
    assert b"Shop is stale" in pages["states"].content
    assert b"email: SMTPException" in pages["failed"].content
    assert b"email: SMTPException" not in pages["sent"].content
    # Deliveries are a record: no add page.
    assert admin_client.get(reverse("admin:dora_alertdelivery_add")).status_code == 403


def test_the_admin_refuses_a_slack_url_in_the_database(admin_client: Any) -> None:
    config_apply(config_load(ESTATE))
    team = Team.objects.get(name="payments")
    url = reverse("admin:dora_alertchannel_add")
    form = {"team": team.pk, "kind": "slack", "enabled": "on", "url_env": "", "secret_env": ""}

    refused = admin_client.post(
        url, {**form, "address": "https://hooks.slack.com/services/T0/B0/xyz"}
    )
    accepted = admin_client.post(url, {**form, "address": "", "url_env": "SLACK_PAYMENTS"})

    assert refused.status_code == 200  # the form again, with the error
    assert b"a Slack incoming webhook URL is a secret" in refused.content
    assert accepted.status_code == 302
    assert list(AlertChannel.objects.values_list("kind", "address", "url_env")) == [
        ("slack", "", "SLACK_PAYMENTS")
    ]


def test_the_evaluate_alerts_command_fires_sends_and_says_so() -> None:
    """`manage.py evaluate_alerts` (what make demo runs): one condition fires, its e-mail is
    sent at once; run again, nothing new fires and nothing is sent twice."""
    config_apply(config_load(ESTATE))
    channel("email", address="oncall@example.com")
    SCRIPT.append(Condition(key="scripted:a", team="payments", title="Spread too wide"))
    args = ["--now", "2026-03-02T09:00Z", "--provider", SCRIPTED[0]]

    first, second = io.StringIO(), io.StringIO()
    call_command("evaluate_alerts", *args, stdout=first)
    call_command("evaluate_alerts", *args, stdout=second)

    assert first.getvalue().splitlines() == [
        "fired: payments/scripted:a",
        "1 fired, 0 cleared; deliveries: 1 sent, 0 to retry, 0 failed",
    ]
    assert second.getvalue().splitlines() == [
        "0 fired, 0 cleared; deliveries: 0 sent, 0 to retry, 0 failed"
    ]
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["oncall@example.com"], "[dora] Spread too wide")
    ]
