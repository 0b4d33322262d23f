"""Alert deliveries (issue 19): email, a Slack incoming webhook and a JSON webhook signed with
HMAC-SHA256; retries with backoff; a failing receiver (a local HTTP server answering 500) is
retried, then recorded as failed, without blocking the other deliveries of the same alert.

The clock is passed in (`now=`). Every expected value is worked out by hand in the comments.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail

from dora.alerts.delivery import delivery_attempt
from dora.alerts.evaluate import Condition, alerts_evaluate
from dora.config import config_apply, config_load
from dora.models import AlertChannel, AlertDelivery
from tests.alerts_helpers import (
    ESTATE,
    GATE,
    SCRIPT,
    SCRIPTED,
    Receiver,
    channel,
    decision,
    script_cleared,  # noqa: F401 (autouse)
    states,
)

pytestmark = pytest.mark.django_db

# --------------------------------------------------------------------------------------------
# Delivery: email, Slack, JSON webhook; retries; a failing receiver blocks no other
# --------------------------------------------------------------------------------------------


@pytest.fixture
def slack_500() -> Iterator[Receiver]:
    receiver = Receiver(500, b"internal error")
    yield receiver
    receiver.close()


@pytest.fixture
def webhook_200() -> Iterator[Receiver]:
    receiver = Receiver(200)
    yield receiver
    receiver.close()


def test_a_failing_slack_receiver_is_retried_with_backoff_then_failed_and_blocks_nothing(
    slack_500: Receiver, webhook_200: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_apply(config_load(ESTATE))
    monkeypatch.setenv("SLACK_PAYMENTS", slack_500.url)
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    channel("slack", url_env="SLACK_PAYMENTS")
    channel("email", address="oncall@example.com, lead@example.com")
    channel("webhook", address=webhook_200.url, secret_env="HOOK_SECRET")
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    SCRIPT.append(
        Condition(
            key="scripted:a",
            team="payments",
            title="shop in production is stale",
            detail="newest version 4 days > stale after 3 days",
            link="/dashboards/service?service=shop",
        )
    )
    alerts_evaluate(now=t, providers=SCRIPTED)
    by_kind = {d.channel.kind: d for d in AlertDelivery.objects.select_related("channel")}

    slack = delivery_attempt(by_kind["slack"].pk, now=t)
    email = delivery_attempt(by_kind["email"].pk, now=t)
    webhook = delivery_attempt(by_kind["webhook"].pk, now=t)

    # Email: sent, plain text and HTML, to both recipients.
    assert email is not None and email.status == "sent" and email.sent_at == t
    [message] = mail.outbox
    assert message.subject == "[dora] shop in production is stale"
    assert message.to == ["oncall@example.com", "lead@example.com"]
    assert "http://localhost:8000/dashboards/service?service=shop" in message.body
    [(html, mime)] = message.alternatives
    assert mime == "text/html" and "href='http://localhost:8000/dashboards/service" in html
    # JSON webhook: sent, its signature is the HMAC-SHA256 of the exact body with the secret.
    assert webhook is not None and webhook.status == "sent"
    [(headers, body)] = webhook_200.requests
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Dora-Signature-256"] == expected
    assert headers["X-Dora-Event"] == "alert.fired"
    sent = json.loads(body)
    assert sent["schema"] == "dora.alert/1" and sent["event"] == "fired"
    assert (sent["team"], sent["key"], sent["kind"]) == ("payments", "scripted:a", "scripted")
    assert sent["delivery_id"] == webhook.pk and sent["fired_at"] == "2026-03-02T09:00:00Z"
    # Slack: 500, so pending, one attempt, the next in 30 s.
    assert slack is not None
    assert (slack.status, slack.attempts) == ("pending", 1)
    assert slack.next_attempt_at == t + timedelta(seconds=30)
    assert slack.last_error == "slack: HTTP 500: internal error"
    [(_, slack_body)] = slack_500.requests
    posted = json.loads(slack_body)
    assert posted["text"] == ":rotating_light: shop in production is stale (payments)"
    assert "<http://localhost:8000/dashboards/service?service=shop|" in json.dumps(posted["blocks"])

    # Not due yet: nothing happens.
    assert delivery_attempt(slack.pk, now=t + timedelta(seconds=29)) is None
    # Attempts 2-4 at each due time; the waits grow 30 s, 2 min, 8 min, 15 min.
    moment = t + timedelta(seconds=30)
    for attempts, wait in ((2, 120), (3, 480), (4, 900)):
        slack = delivery_attempt(slack.pk, now=moment)
        assert slack is not None
        assert (slack.status, slack.attempts) == ("pending", attempts)
        assert slack.next_attempt_at == moment + timedelta(seconds=wait)
        moment += timedelta(seconds=wait)
    # The fifth attempt is the last: failed, with the error kept, and never tried again.
    slack = delivery_attempt(slack.pk, now=moment)
    assert slack is not None
    assert (slack.status, slack.attempts, slack.next_attempt_at) == ("failed", 5, None)
    assert slack.last_error == "slack: HTTP 500: internal error"
    assert len(slack_500.requests) == 5
    assert delivery_attempt(slack.pk, now=moment + timedelta(hours=1)) is None

    # Meanwhile a second alert reaches email and the webhook as ever.
    SCRIPT.append(Condition(key="scripted:b", team="payments", title="B"))
    alerts_evaluate(now=moment, providers=SCRIPTED)
    for d in AlertDelivery.objects.filter(state__key="scripted:b").exclude(channel__kind="slack"):
        assert delivery_attempt(d.pk, now=moment).status == "sent"
    assert len(mail.outbox) == 2 and len(webhook_200.requests) == 2


def test_the_delivery_task_queues_its_next_attempt_after_the_backoff(
    slack_500: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dora.tasks

    config_apply(config_load(ESTATE))
    monkeypatch.setenv("SLACK_PAYMENTS", slack_500.url)
    channel("slack", url_env="SLACK_PAYMENTS")
    SCRIPT.append(Condition(key="scripted:a", team="payments", title="A"))
    alerts_evaluate(now=datetime.now(UTC), providers=SCRIPTED)
    queued: list[tuple[str, list[int], float]] = []
    monkeypatch.setattr(
        dora.tasks,
        "task_send",
        lambda task, *, args, countdown: queued.append((task.name, args, countdown)),
    )
    delivery = AlertDelivery.objects.get()

    assert dora.tasks.alert_deliver_task(delivery.pk) == "pending"

    [(name, args, countdown)] = queued
    assert (name, args) == ("dora.tasks.alert_deliver_task", [delivery.pk])
    assert 25 < countdown <= 30  # next_attempt_at is 30 s after the attempt began


def test_a_missing_variable_or_a_4xx_answer_fails_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_apply(config_load(ESTATE))
    monkeypatch.delenv("SLACK_NOWHERE", raising=False)
    channel("slack", url_env="SLACK_NOWHERE")
    receiver = Receiver(404, b"no_service")  # what Slack answers for a removed webhook
    try:
        channel("webhook", address=receiver.url)
        t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        SCRIPT.append(Condition(key="scripted:a", team="payments", title="A"))
        alerts_evaluate(now=t, providers=SCRIPTED)
        results = {
            d.channel.kind: delivery_attempt(d.pk, now=t)
            for d in AlertDelivery.objects.select_related("channel")
        }
    finally:
        receiver.close()
    assert (results["slack"].status, results["slack"].attempts) == ("failed", 1)
    assert "SLACK_NOWHERE" in results["slack"].last_error
    assert (results["webhook"].status, results["webhook"].last_error) == (
        "failed",
        "webhook: HTTP 404: no_service",
    )


def test_the_beat_task_evaluates_queues_one_task_per_delivery_and_requeues_lost_ones(
    monkeypatch: pytest.MonkeyPatch, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    import dora.tasks

    config_apply(config_load(ESTATE))
    channel("email", address="oncall@example.com")
    channel("email", address="lead@example.com")
    settings.DORA_ALERT_PROVIDERS = [*SCRIPTED, *GATE]
    assert settings.CELERY_BEAT_SCHEDULE["alerts-evaluate"] == {
        "task": "dora.tasks.alerts_evaluate_task",
        "schedule": 300.0,
    }
    queued: list[tuple[str, list[int]]] = []
    monkeypatch.setattr(
        dora.tasks, "task_send", lambda task, args=(), **kw: queued.append((task.name, args))
    )
    SCRIPT.append(Condition(key="scripted:a", team="payments", title="A"))

    with django_capture_on_commit_callbacks(execute=True):
        counts = dora.tasks.alerts_evaluate_task()

    ids = sorted(AlertDelivery.objects.values_list("pk", flat=True))
    assert counts == {"fired": 1, "cleared": 0, "requeued": 0}
    assert sorted(queued) == [("dora.tasks.alert_deliver_task", [i]) for i in ids]

    # A delivery due 10 minutes ago whose task was lost is queued again by the next run.
    queued.clear()
    AlertDelivery.objects.filter(pk=ids[0]).update(
        next_attempt_at=datetime.now(UTC) - timedelta(minutes=10)
    )
    AlertDelivery.objects.filter(pk=ids[1]).update(status="sent")
    with django_capture_on_commit_callbacks(execute=True):
        counts = dora.tasks.alerts_evaluate_task()
    assert counts == {"fired": 0, "cleared": 0, "requeued": 1}
    assert queued == [("dora.tasks.alert_deliver_task", [ids[0]])]

    # The gate's task evaluates blocked promotions only: the scripted condition is not
    # "gone" for it, and stays active.
    SCRIPT.clear()
    decision("shop", at=datetime.now(UTC) - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert dora.tasks.alerts_gate_blocks_task() == 1
    assert states()["scripted:a"].active is True


def test_a_channel_disabled_before_sending_fails_its_pending_delivery() -> None:
    config_apply(config_load(ESTATE))
    email = channel("email", address="oncall@example.com")
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    SCRIPT.append(Condition(key="scripted:a", team="payments", title="A"))
    alerts_evaluate(now=t, providers=SCRIPTED)
    AlertChannel.objects.filter(pk=email.pk).update(enabled=False)

    delivery = delivery_attempt(AlertDelivery.objects.get().pk, now=t)

    assert delivery is not None and delivery.status == "failed"
    assert delivery.last_error == "the channel was disabled before this was sent"
    assert mail.outbox == []
    # And a disabled channel gets no new deliveries.
    SCRIPT.append(Condition(key="scripted:b", team="payments", title="B"))
    alerts_evaluate(now=t, providers=SCRIPTED)
    assert AlertDelivery.objects.count() == 1
