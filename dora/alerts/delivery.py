"""Sending one AlertDelivery: email (Django's backend), a Slack incoming webhook, or the generic
JSON webhook signed with HMAC-SHA256; retried with backoff, `failed` after the last attempt.

A delivery is claimed with a conditional UPDATE (pending and due), so a task run twice, or a
task and the sweep of overdue deliveries, send it once. The claim holds it for CLAIM_SECONDS
(more than the HTTP timeouts): a worker that dies mid-send leaves it due again after that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.html import format_html

from dora.models import AlertChannel, AlertDelivery

log = logging.getLogger(__name__)

CLAIM_SECONDS = 120
SIGNATURE_HEADER = "X-Dora-Signature-256"
# An HTTP answer that retrying cannot change: the receiver refuses the request itself (a revoked
# Slack webhook answers 403/404). 408 and 429 are transient, like 5xx.
_TRANSIENT_4XX = frozenset({408, 425, 429})


class DeliveryFailed(Exception):
    """Sending failed; `permanent` ones are not retried (a missing variable, a 4xx answer)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (DORA_ALERT_RETRY_DELAYS; the last
    repeats): 30 s, 2 min, 8 min, 15 min by default."""
    delays = settings.DORA_ALERT_RETRY_DELAYS or [60]
    return timedelta(seconds=delays[min(attempts, len(delays)) - 1])


def delivery_attempt(delivery_id: int, *, now: datetime) -> AlertDelivery | None:
    """Try to send the delivery if it is pending and due at `now`; None when it is not (sent,
    failed, not due yet, or claimed by another run). Returns the delivery as recorded."""
    claimed = AlertDelivery.objects.filter(
        pk=delivery_id, status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    if not claimed:
        return None
    delivery = AlertDelivery.objects.select_related("channel", "state__team").get(pk=delivery_id)
    delivery.attempts += 1
    try:
        if not delivery.channel.enabled:
            raise DeliveryFailed("the channel was disabled before this was sent", permanent=True)
        _send(delivery)
    except DeliveryFailed as exc:
        delivery.last_error = str(exc)[:2000]
        if exc.permanent or delivery.attempts >= settings.DORA_ALERT_DELIVERY_ATTEMPTS:
            delivery.status = AlertDelivery.Status.FAILED
            delivery.next_attempt_at = None
            log.warning(
                "alert delivery %s to %s failed after %s attempt(s): %s",
                delivery.pk,
                delivery.channel,
                delivery.attempts,
                exc,
            )
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    else:
        delivery.status = AlertDelivery.Status.SENT
        delivery.sent_at = now
        delivery.next_attempt_at = None
        delivery.last_error = ""
    delivery.save(update_fields=["attempts", "status", "last_error", "next_attempt_at", "sent_at"])
    return delivery


def deliveries_overdue(*, now: datetime, grace: timedelta = timedelta(minutes=1)) -> list[int]:
    """Pending deliveries due for longer than `grace`: their queued task was lost (the broker
    was down, a worker died); the evaluation task queues them again."""
    return list(
        AlertDelivery.objects.filter(
            status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now - grace
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )


def _send(delivery: AlertDelivery) -> None:
    channel = delivery.channel
    if channel.kind == AlertChannel.Kind.EMAIL:
        _send_email(channel, delivery.payload)
    elif channel.kind == AlertChannel.Kind.SLACK:
        _post(channel, _url(channel), json.dumps(slack_message(delivery.payload)), {})
    elif channel.kind == AlertChannel.Kind.WEBHOOK:
        body = json.dumps({**delivery.payload, "delivery_id": delivery.pk}, sort_keys=True)
        headers = {"X-Dora-Event": f"alert.{delivery.event}", "X-Dora-Delivery": str(delivery.pk)}
        if channel.secret_env:
            secret = _variable(channel.secret_env, "the webhook's signing key")
            headers[SIGNATURE_HEADER] = webhook_signature(secret, body.encode())
        _post(channel, _url(channel), body, headers)
    else:
        raise DeliveryFailed(f"unknown channel kind {channel.kind!r}", permanent=True)


def webhook_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body with the secret>` (CONTRACT §6)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _variable(name: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise DeliveryFailed(
            f"environment variable {name} ({what}) is not set in the worker's environment",
            permanent=True,
        )
    return value


def _url(channel: AlertChannel) -> str:
    if channel.url_env:
        return _variable(channel.url_env, f"the {channel.kind} URL")
    if not channel.address:
        raise DeliveryFailed(f"the {channel.kind} channel has no URL", permanent=True)
    return channel.address


def _post(channel: AlertChannel, url: str, body: str, headers: dict[str, str]) -> None:
    timeout = (
        settings.DORA_ALERT_CONNECT_TIMEOUT_SECONDS,
        settings.DORA_ALERT_READ_TIMEOUT_SECONDS,
    )
    try:
        response = requests.post(
            url,
            data=body.encode(),
            headers={"Content-Type": "application/json", "User-Agent": "dora-alerts", **headers},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        # The URL may hold a token (Slack's does): name the error's kind, never the URL.
        raise DeliveryFailed(f"{channel.kind}: {exc.__class__.__name__}") from None
    if 200 <= response.status_code < 300:
        return
    text = response.text[:200].strip()
    message = f"{channel.kind}: HTTP {response.status_code}" + (f": {text}" if text else "")
    transient = response.status_code >= 500 or response.status_code in _TRANSIENT_4XX
    raise DeliveryFailed(message, permanent=not transient)


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message: `text` (notifications, old clients) and blocks."""
    resolved = payload["event"] == AlertDelivery.Event.CLEARED
    mark = ":white_check_mark: Resolved" if resolved else ":rotating_light:"
    title = _slack_escape(payload["title"])
    heading = f"<{payload['url']}|{title}>" if payload.get("url") else title
    text = f"{mark} {payload['title']} ({payload['team']})"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{mark} *{heading}*"}}
    ]
    if payload.get("detail"):
        detail = _slack_escape(payload["detail"])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": detail}})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"team {_slack_escape(payload['team'])} · {payload['key']}",
                }
            ],
        }
    )
    return {"text": text, "blocks": blocks}


def _slack_escape(text: str) -> str:
    # https://api.slack.com/reference/surfaces/formatting#escaping
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _send_email(channel: AlertChannel, payload: dict[str, Any]) -> None:
    recipients = [a.strip() for a in channel.address.split(",") if a.strip()]
    if not recipients:
        raise DeliveryFailed("the email channel has no recipients", permanent=True)
    resolved = payload["event"] == AlertDelivery.Event.CLEARED
    subject = f"[dora] {'Resolved: ' if resolved else ''}{payload['title']}"
    lines = [payload["title"], "", payload.get("detail") or ""]
    if payload.get("url"):
        lines += ["", payload["url"]]
    lines += ["", f"team {payload['team']} · {payload['key']}"]
    html = format_html(
        "<p><strong>{}{}</strong></p><p>{}</p>{}<p style='color:#57606a'>team {} · {}</p>",
        "Resolved: " if resolved else "",
        payload["title"],
        payload.get("detail") or "",
        format_html("<p><a href='{}'>Open in dora</a></p>", payload["url"])
        if payload.get("url")
        else "",
        payload["team"],
        payload["key"],
    )
    message = EmailMultiAlternatives(subject, "\n".join(lines), to=recipients)
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"email: {exc.__class__.__name__}: {exc}") from None
