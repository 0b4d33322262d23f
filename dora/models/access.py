"""Access and settings: API tokens, the organisation's settings and the digests sent."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.db import models

from dora.models.estate import _EMPTY_LIST, Team


class ApiToken(models.Model):
    """A bearer token; only its sha256 is stored."""

    class Scope(models.TextChoices):
        INGEST = "ingest"
        GATE = "gate"
        READ = "read"
        METRICS = "metrics"  # scrapes GET /metrics (Prometheus), nothing else

    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="first characters, to recognise it")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="refused from this moment on (empty: never expires)"
    )
    # Limits (empty: none). A token limited to services or teams sends events about, asks the
    # gate about, and reads the metrics of those services only (a team's: its services now);
    # one limited to event types sends only those types.
    services = models.JSONField(default=list, blank=True, db_default=_EMPTY_LIST)
    teams = models.JSONField(default=list, blank=True, db_default=_EMPTY_LIST)
    event_types = models.JSONField(default=list, blank=True, db_default=_EMPTY_LIST)

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    def __str__(self) -> str:
        return f"{self.name} ({self.scope}, {self.prefix}…)"

    @property
    def limited(self) -> bool:
        return bool(self.services or self.teams or self.event_types)

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(
        cls,
        *,
        name: str,
        scope: str,
        expires_at: datetime | None = None,
        services: list[str] | None = None,
        teams: list[str] | None = None,
        event_types: list[str] | None = None,
    ) -> tuple[ApiToken, str]:
        """Create a token and return it with its raw value, which is shown once."""
        raw = f"dora_{scope}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(
            name=name,
            scope=scope,
            digest=cls.hash(raw),
            prefix=raw[:12],
            expires_at=expires_at,
            services=sorted(services or []),
            teams=sorted(teams or []),
            event_types=sorted(event_types or []),
        )
        return token, raw


class OrganisationSettings(models.Model):
    """`organisation:` (CONTRACT §2): settings of the whole organisation. One row."""

    industry = models.CharField(
        max_length=64,
        blank=True,
        help_text="DORA 2025 Quick Check industry the figures are placed against (blank: all)",
    )
    # `organisation: digest: to:`: the monthly leadership digest's addresses, besides the
    # leadership group's and staff users' (docs/DIGESTS.md).
    digest_to = models.JSONField(
        default=list,
        blank=True,
        db_default=_EMPTY_LIST,
        help_text="addresses of the monthly leadership digest",
    )

    class Meta:
        verbose_name = "organisation settings"
        verbose_name_plural = "organisation settings"

    def __str__(self) -> str:
        return "organisation settings"


class DigestSent(models.Model):
    """A digest sent (docs/DIGESTS.md): a team's weekly digest for the week starting
    `period_start` (its local Monday), or with no team the leadership digest for the month
    starting then. Claimed in the transaction that sends it, so a digest goes out once even
    with two workers, and one that failed to send is tried again on the next run."""

    class Kind(models.TextChoices):
        WEEKLY = "weekly"
        MONTHLY = "monthly"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE)
    period_start = models.DateField()
    sent_at = models.DateTimeField()
    recipients = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "team", "period_start"],
                condition=models.Q(team__isnull=False),
                name="digest_sent_once_per_team",
            ),
            models.UniqueConstraint(
                fields=["kind", "period_start"],
                condition=models.Q(team__isnull=True),
                name="digest_sent_once_for_leadership",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} digest {self.team or 'leadership'} {self.period_start}"
