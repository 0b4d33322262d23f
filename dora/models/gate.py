"""Promotion gate and targets: figure targets, gate defaults and rules, the gate's decisions
and the facts generation dashboard snapshots are keyed by."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.db.models import Q

from dora.models.estate import Service, Team

# CONTRACT §2 `targets:`: the rolling window a figure target is judged over when none is named.
DEFAULT_TARGET_WINDOW = timedelta(days=28)


class FigureTarget(models.Model):
    """A goal for one figure of CONTRACT §4 (`family.field`), for a team or a service, over a
    rolling window ending now (CONTRACT §2 `targets:`; attainment in dora.targets). `source`:
    `file` rows are managed by apply_config, `admin` rows by people in the admin."""

    class Direction(models.TextChoices):
        BELOW = "below", "below (met when the value is at most the threshold)"
        ABOVE = "above", "above (met when the value is at least the threshold)"

    class Source(models.TextChoices):
        FILE = "file"
        ADMIN = "admin"

    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="figure_targets"
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="figure_targets"
    )
    figure = models.CharField(max_length=100, help_text="family.field, e.g. lead_time.p50_seconds")
    direction = models.CharField(max_length=5, choices=Direction.choices)
    threshold = models.FloatField(help_text="in the figure's unit: seconds, a rate 0..1, a count")
    window = models.DurationField(
        default=DEFAULT_TARGET_WINDOW, help_text="rolling window ending now, e.g. 28 days"
    )
    source = models.CharField(
        max_length=5,
        choices=Source.choices,
        default=Source.ADMIN,
        help_text="file: apply_config manages it; admin: made here, apply_config leaves it alone",
    )

    class Meta:
        ordering = ["team__name", "service__name", "figure", "direction"]
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=True, service__isnull=False)
                | Q(team__isnull=False, service__isnull=True),
                name="figuretarget_one_subject",
            ),
            models.UniqueConstraint(
                fields=["team", "figure", "direction"],
                condition=Q(team__isnull=False),
                name="figuretarget_team_unique",
            ),
            models.UniqueConstraint(
                fields=["service", "figure", "direction"],
                condition=Q(service__isnull=False),
                name="figuretarget_service_unique",
            ),
        ]

    def __str__(self) -> str:
        subject = f"team {self.team.name}" if self.team_id else f"service {self.service.name}"
        return f"{subject}: {self.figure} {self.direction} {self.threshold:g}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from dora.config.vocabulary import FIGURES

        errors: dict[str, str] = {}
        if self.team_id and self.service_id:
            errors["service"] = "Give a team or a service, not both."
        elif not self.team_id and not self.service_id:
            errors["team"] = "Choose a team or a service."
        family, _, name = (self.figure or "").partition(".")
        if family not in FIGURES:
            errors["figure"] = (
                f"Unknown figure '{self.figure}': write family.field, families: "
                f"{', '.join(FIGURES)}."
            )
        elif name not in FIGURES[family]:
            errors["figure"] = (
                f"Unknown figure '{self.figure}': fields of {family}: {', '.join(FIGURES[family])}."
            )
        if self.threshold is not None and self.threshold != self.threshold:  # NaN
            errors["threshold"] = "The threshold must be a number."
        if self.window is not None and self.window <= timedelta(0):
            errors["window"] = "The window must be longer than zero."
        if errors:
            raise ValidationError(errors)


class GateSettings(models.Model):
    """`gates.defaults` (CONTRACT §2): thresholds every promotion starts from. One row."""

    min_soak = models.DurationField(null=True, blank=True, help_text="default 30m")
    stale_after = models.DurationField(
        null=True, blank=True, help_text="default: the source environment's stale_after"
    )
    severity = models.CharField(
        max_length=40, blank=True, help_text="incident severity that blocks (default sev2)"
    )
    max_spread = models.PositiveIntegerField(
        null=True, blank=True, help_text="versions allowed live in `to` (default 1)"
    )

    class Meta:
        verbose_name = "gate defaults"
        verbose_name_plural = "gate defaults"

    def __str__(self) -> str:
        return "gate defaults"


class GateRule(models.Model):
    """`gates.rules[]`: check settings for promotions matching service/from/to ('' = any)."""

    service = models.CharField(max_length=200, blank=True)
    from_env = models.CharField("from", max_length=200, blank=True)
    to_env = models.CharField("to", max_length=200, blank=True)
    checks = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"infra_parity": "block", "soak_time": {"min_soak": "2h"}}',
    )
    position = models.IntegerField(default=0, help_text="order in the file; later wins ties")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "from_env", "to_env"], name="gaterule_unique"
            )
        ]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.service or '*'}: {self.from_env or '*'} -> {self.to_env or '*'}"


class GateDecision(models.Model):
    """One answer of the promotion gate, with its request and every check (CONTRACT §5)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    evaluated_at = models.DateTimeField()
    service = models.CharField(max_length=200)
    version = models.CharField(max_length=200)
    from_env = models.CharField("from", max_length=200)
    to_env = models.CharField("to", max_length=200)
    pipeline_run = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=200, help_text="token name or username")
    allowed = models.BooleanField()
    checks = models.JSONField(default=list)
    request = models.JSONField(default=dict, help_text="the request body as received")

    class Meta:
        indexes = [
            models.Index(fields=["service", "evaluated_at"]),
            models.Index(fields=["evaluated_at"]),
        ]
        ordering = ["-evaluated_at"]

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "blocked"
        return f"{self.service} {self.version} {self.from_env}->{self.to_env}: {verdict}"


class FactsGeneration(models.Model):
    """A counter raised after every commit that may change a figure: events stored, facts
    derived, configuration applied, an edit in the admin (dora.generation). Dashboard snapshots
    are keyed by it, so a new generation is a new snapshot. One row."""

    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "facts generation"
        verbose_name_plural = "facts generation"  # one row: a counter, not a list
