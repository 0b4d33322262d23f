"""Alerts (dora.alerts, docs/ALERTS.md): channels, alert states and their deliveries."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from dora.models.estate import Team

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # an environment variable's name


class AlertChannel(models.Model):
    """Where a team's alerts go: email addresses, a Slack incoming webhook or a JSON webhook.

    Secrets never live here: a Slack webhook URL (it is its own credential) is read from the
    environment variable `url_env` names, the generic webhook's HMAC key from `secret_env`.
    """

    class Kind(models.TextChoices):
        EMAIL = "email"
        SLACK = "slack"
        WEBHOOK = "webhook"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_channels")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(
        max_length=1000,
        blank=True,
        help_text="email: recipients, comma-separated; webhook: its URL (no credentials in it)",
    )
    url_env = models.CharField(
        max_length=200,
        blank=True,
        help_text="environment variable holding the URL (slack: required; webhook: instead of "
        "address)",
    )
    secret_env = models.CharField(
        max_length=200,
        blank=True,
        help_text="webhook: environment variable holding the HMAC-SHA256 key of the signature",
    )
    enabled = models.BooleanField(default=True)
    configured = models.BooleanField(
        default=False, help_text="declared in the configuration file (apply_config manages it)"
    )

    class Meta:
        ordering = ["team__name", "kind", "id"]

    def __str__(self) -> str:
        where = self.address or (f"${self.url_env}" if self.url_env else "")
        return f"{self.team.name}: {self.kind} {where}".strip()

    def clean(self) -> None:
        """What the configuration file checks (dora.config.alerts), for the admin's form: a
        Slack URL is a secret and is never stored here; variables are names, not values."""
        errors: dict[str, str] = {}
        for name in ("url_env", "secret_env"):
            value = getattr(self, name)
            if value and not _ENV_NAME.match(value):
                errors[name] = "the name of an environment variable, e.g. DORA_SLACK_PAYMENTS"
        if self.kind == self.Kind.SLACK:
            if self.address:
                errors["address"] = (
                    "a Slack incoming webhook URL is a secret: put it in an environment "
                    "variable of the worker and name that variable in url_env"
                )
            elif not self.url_env:
                errors["url_env"] = "required: the variable holding the Slack webhook URL"
        elif self.kind == self.Kind.WEBHOOK:
            if bool(self.address) == bool(self.url_env):
                errors["address"] = "give the URL here or the variable holding it in url_env"
            elif self.address and not self.address.startswith(("https://", "http://")):
                errors["address"] = "an http(s) URL"
            elif "hooks.slack.com" in self.address:
                errors["address"] = "a Slack webhook URL is a secret: use a slack channel"
        elif self.kind == self.Kind.EMAIL and "@" not in self.address:
            errors["address"] = "one or more email addresses, comma-separated"
        if errors:
            raise ValidationError(errors)


class AlertState(models.Model):
    """One condition of a team (a key such as `stale:shop@production`): while `active` it has
    fired and does not fire again; once cleared it fires again when it comes back."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_states")
    key = models.CharField(max_length=500)
    kind = models.CharField(max_length=40, help_text="the provider that found it")
    title = models.CharField(max_length=500)
    detail = models.TextField(blank=True)
    link = models.CharField(max_length=1000, blank=True, help_text="dashboard path")
    active = models.BooleanField(default=True)
    first_fired_at = models.DateTimeField(help_text="when it fired the first time")
    fired_at = models.DateTimeField(help_text="when it fired the last time")
    fired_count = models.PositiveIntegerField(default=1)
    last_seen_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "key"], name="alertstate_team_key_unique")
        ]
        ordering = ["-fired_at"]

    def __str__(self) -> str:
        return f"{self.team.name}: {self.key} ({'active' if self.active else 'cleared'})"


class AlertDelivery(models.Model):
    """One message of an alert to one channel: queued when the condition fires or clears, sent
    by dora.alerts.delivery with retries; `failed` after the last attempt, with the error."""

    class Event(models.TextChoices):
        FIRED = "fired"
        CLEARED = "cleared"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    state = models.ForeignKey(AlertState, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict, help_text="the alert as the JSON webhook receives it")

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"

    def __str__(self) -> str:
        return f"{self.state.key} {self.event} -> {self.channel.kind}: {self.status}"
