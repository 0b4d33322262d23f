"""Alerts on a real Celery worker (prefork, a private redis-server as the broker): beat's task
fires a blocked promotion's alert, one task per delivery; the Slack receiver answering 500 is
retried by re-queued tasks until the last attempt records it failed, while the JSON webhook
and the email of the same alert are sent. Retry waits are 1 s here (DORA_ALERT_RETRY_DELAYS)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from dora.config import config_apply, config_load
from dora.models import AlertChannel, AlertDelivery, GateDecision, Team
from tests.alerts_helpers import ESTATE, Receiver
from tests.servers import (
    REDIS_SERVER,
    RedisServer,
    broker_app,
    celery_worker,
    log_tail,
    redis_server,
)
from tests.servers import database_url_of as _database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason="needs redis-server"),
]
WAIT_SECONDS = 90


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    if connection.vendor != "postgresql":
        pytest.skip("a worker subprocess needs the test database on PostgreSQL")
    with redis_server(tmp_path / "redis.log") as server:
        yield server


def test_a_failing_slack_receiver_is_retried_on_the_worker_and_blocks_no_other_delivery(
    broker: RedisServer, tmp_path: Path
) -> None:
    slack, webhook = Receiver(500, b"internal error"), Receiver(200)
    try:
        config_apply(config_load(ESTATE))
        team = Team.objects.get(name="payments")
        AlertChannel.objects.create(team=team, kind="slack", url_env="SLACK_PAYMENTS")
        AlertChannel.objects.create(team=team, kind="webhook", address=webhook.url)
        AlertChannel.objects.create(team=team, kind="email", address="oncall@example.com")
        GateDecision.objects.create(
            evaluated_at=datetime.now(UTC) - timedelta(minutes=1),
            service="shop",
            version="v9",
            from_env="staging",
            to_env="production",
            requested_by="ci",
            allowed=False,
            checks=[],
        )
        env = {
            "DATABASE_URL": _database_url(connection.settings_dict),
            "SLACK_PAYMENTS": slack.url,
            "DORA_ALERT_PROVIDERS": "dora.alerts.providers.gate_blocks",
            "DORA_ALERT_RETRY_DELAYS": "1",
            "EMAIL_URL": "consolemail://",  # the worker prints the message to its log
        }
        log = tmp_path / "worker.log"
        # The default queue: the tasks the worker queues itself go there.
        with celery_worker(env, "celery", log, broker=broker.url()):
            with broker_app(broker.url()) as sender:
                sender.send_task("dora.tasks.alerts_evaluate_task", queue="celery")
            deadline = time.monotonic() + WAIT_SECONDS
            # Until the three deliveries exist and none is pending any more.
            while AlertDelivery.objects.exclude(status="pending").count() < 3:
                assert time.monotonic() < deadline, log_tail(log)
                time.sleep(0.25)
    finally:
        slack.close()
        webhook.close()

    by_kind = {d.channel.kind: d for d in AlertDelivery.objects.select_related("channel")}
    assert (by_kind["slack"].status, by_kind["slack"].attempts) == ("failed", 5)
    assert by_kind["slack"].last_error == "slack: HTTP 500: internal error"
    assert len(slack.requests) == 5
    assert (by_kind["webhook"].status, by_kind["webhook"].attempts) == ("sent", 1)
    assert (by_kind["email"].status, by_kind["email"].attempts) == ("sent", 1)
    assert len(webhook.requests) == 1
    # The console email backend printed it (the subject is MIME-encoded: it holds "→").
    printed = log.read_text()
    assert "To: oncall@example.com" in printed
    assert "\nPromotion of shop v9 staging → production blocked\n" in printed
