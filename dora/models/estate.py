"""Estate: who owns what, and where it runs (teams, services, environments, targets), with
the tiers and run statuses the records share."""

from __future__ import annotations

from datetime import timedelta

from django.db import models

# A database default for list fields added later, so code of the version before (during a
# rolling upgrade, or a bench of an older commit) can still create rows on the migrated schema.
_EMPTY_LIST = models.Value([], output_field=models.JSONField())

# METRICS §2: a target a service has not deployed to for this long is retired (per environment).
TARGET_IDLE_AFTER = timedelta(days=90)


class Tier(models.TextChoices):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class Status(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    RUNNING = "running"


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)
    members = models.JSONField(default=list, blank=True, help_text="usernames who see the team")
    timezone = models.CharField(max_length=64, default="UTC")
    industry = models.CharField(
        max_length=64,
        blank=True,
        help_text="DORA 2025 Quick Check industry its figures are placed against "
        "(blank: the organisation's)",
    )
    # `teams: - digest:` (CONTRACT §2, docs/DIGESTS.md): the weekly digest goes to the members'
    # e-mail addresses plus these; digest_enabled False sends it to nobody.
    digest_to = models.JSONField(
        default=list,
        blank=True,
        db_default=_EMPTY_LIST,
        help_text="extra addresses of the weekly digest",
    )
    digest_enabled = models.BooleanField(
        default=True, db_default=True, help_text="send the weekly digest"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Service(models.Model):
    class Kind(models.TextChoices):
        APP = "app"
        INFRA = "infra"

    name = models.CharField(max_length=200, unique=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.APP)
    repos = models.JSONField(default=list, blank=True)
    paths = models.JSONField(default=list, blank=True, help_text="monorepo path globs")
    infer_failures = models.BooleanField(
        default=True, help_text="link unlinked incidents to the nearest rollout within 24 h"
    )
    # Declared by apply_config or saved in the admin; a service event intake created on first
    # sight is not (DORA_UNKNOWN_SERVICES), and keeps the event that named it first.
    # Database defaults: a process of the version before (a rolling upgrade) still creates rows.
    configured = models.BooleanField(
        default=False,
        db_default=False,
        help_text="declared by apply_config or the admin (not created by intake)",
    )
    first_event_at = models.DateTimeField(
        null=True, blank=True, help_text="when intake created it: the first event naming it"
    )
    first_event_type = models.CharField(max_length=20, blank=True, default="", db_default="")
    first_event_key = models.CharField(
        max_length=600, blank=True, default="", db_default="", help_text="source:type:id"
    )
    first_event_sent_by = models.CharField(max_length=200, blank=True, default="", db_default="")
    depends_on = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="dependents",
        limit_choices_to={"kind": "infra"},
        help_text="infra stacks the service runs on (transitively): what the promotion gate's "
        "source_fresh and infra_parity judge besides its own deploy pipeline",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UnconfiguredServiceManager(models.Manager["UnconfiguredService"]):
    def get_queryset(self) -> models.QuerySet[UnconfiguredService]:
        return super().get_queryset().filter(configured=False)


class UnconfiguredService(Service):
    """Services intake created from an event (admin: "Services without configuration")."""

    objects = UnconfiguredServiceManager()

    class Meta:
        proxy = True
        verbose_name = "service without configuration"
        verbose_name_plural = "services without configuration"


class Environment(models.Model):
    name = models.CharField(max_length=200, unique=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.DEVELOPMENT)
    tier_configured = models.BooleanField(
        default=False, help_text="set by configuration; otherwise inferred from the name"
    )
    order = models.IntegerField(default=0, help_text="position in the promotion path")
    stale_after = models.DurationField(default=timedelta(days=7))
    target_idle_after = models.DurationField(
        default=TARGET_IDLE_AFTER,
        db_default=TARGET_IDLE_AFTER,
        help_text="a target with no successful deployment of a service for this long is no "
        "longer one of its active targets (unless targets are configured)",
    )

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Target(models.Model):
    """A place an environment runs (region, cluster, tenant); '' is the only target."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="targets")
    name = models.CharField(max_length=200, blank=True)
    configured = models.BooleanField(
        default=False, help_text="listed by configuration: always active"
    )

    class Meta:
        ordering = ["environment", "name"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="target_unique")
        ]

    def __str__(self) -> str:
        return f"{self.environment.name}/{self.name or '-'}"
