"""`config_apply`: a `Config` written to the database idempotently, and the `sources_apply` hook."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from dora.config.applier import _Applier
from dora.config.load import _format_problems, _team_reference_problems
from dora.config.spec import (
    Config,
    ConfigError,
    EnvironmentSpec,
)
from dora.estate import _DEFAULT_ORDER, tier_for_name
from dora.generation import facts_changed
from dora.intake.derive import pairs_mark
from dora.models import (
    Environment,
    Service,
    Target,
    Team,
    Tier,
)


@dataclass(frozen=True)
class ConfigDiff:
    """What applying changed (or would change, in a dry run).

    lines: `+ kind name` created, `~ kind name: field old -> new, ...` updated,
    `- kind name` deleted.
    errors: `! ...` objects --prune refused to delete. notes: sections validated but not applied
    (sources of a kind no installed app applies).
    rederive: pairs marked for derivation again (derived by the caller, or by `manage.py derive`).
    """

    lines: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rederive: int = 0  # (service, environment) pairs whose facts the change invalidated

    @property
    def changed(self) -> bool:
        return bool(self.lines)


@dataclass(frozen=True)
class SourcesApplied:
    """What a `sources_apply` receiver did with the file's sources of the kinds it handles.

    lines and errors read like ConfigDiff's (`+ source NAME`, `~ source NAME: ...`).
    """

    kinds: frozenset[str]
    lines: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


# The hook through which sources are applied: dora never imports the ingest adapters. Sent by
# config_apply inside its transaction (so a dry run rolls it back) with `config` and `prune`;
# the app owning a kind of source connects a receiver that returns SourcesApplied
# (ingest.config, connected in IngestConfig.ready). Kinds no receiver handles are noted.
sources_apply = Signal()


def _service_reference_problems(
    config: Config, known_services: Collection[str], *, because: str = ""
) -> list[tuple[int, str]]:
    """Figure targets naming a service that is neither in the file nor known."""
    defined = {service.name for service in config.services} | set(known_services)
    return [
        (
            goal.line,
            f"target for {goal.figure}: service '{goal.service}' is not defined in the file "
            f"{because or 'or the database'} (add it under services:)",
        )
        for goal in config.targets
        if goal.service is not None and goal.service not in defined
    ]


def _derivation_inputs() -> tuple[dict[int, tuple], dict[int, tuple]]:
    """What derived facts read from configuration, per service and per environment."""
    services = {
        pk: (tuple(repos), tuple(paths), infer)
        for pk, repos, paths, infer in Service.objects.values_list(
            "id", "repos", "paths", "infer_failures"
        )
    }
    configured: dict[int, set[int]] = {}
    for env_id, target_id in Target.objects.filter(configured=True).values_list(
        "environment_id", "id"
    ):
        configured.setdefault(env_id, set()).add(target_id)
    environments = {
        pk: (tier, tuple(sorted(configured.get(pk, ()))), idle_after)
        for pk, tier, idle_after in Environment.objects.values_list(
            "id", "tier", "target_idle_after"
        )
    }
    return services, environments


def config_apply(config: Config, *, dry_run: bool = False, prune: bool = False) -> ConfigDiff:
    """Create or update the teams, services, environments and targets the file names, and its
    sources through the `sources_apply` hook, in one transaction (rolled back when dry_run).
    With prune, delete the ones it does not name, except services and environments with
    history, which are reported in `errors`.

    Raises ConfigError when a service names a team that is neither in the file nor in the
    database (with prune: not in the file, since the team would be deleted).
    """
    file_teams = {team.name for team in config.teams}
    referenced = {s.team for s in config.services if s.team} | {
        t.team for t in config.targets if t.team
    }
    file_services = {service.name for service in config.services}
    targeted = {t.service for t in config.targets if t.service}
    if prune:
        problems = _team_reference_problems(
            config, (), because="(and --prune deletes teams that are not in the file)"
        ) + _service_reference_problems(
            config, (), because="(and --prune deletes services that are not in the file)"
        )
    else:
        in_db = Team.objects.filter(name__in=referenced - file_teams).values_list("name", flat=True)
        problems = _team_reference_problems(config, set(in_db))
        known = Service.objects.filter(name__in=targeted - file_services)
        problems += _service_reference_problems(config, set(known.values_list("name", flat=True)))
    if problems:
        raise ConfigError(_format_problems(config.filename, problems))

    applier = _Applier(config)
    with transaction.atomic():
        before = _derivation_inputs()
        teams = applier.upsert(
            Team,
            "team",
            config.teams,
            lambda spec: {
                "members": list(spec.members),
                "timezone": spec.timezone,
                "industry": spec.industry or "",
                "digest_to": list(spec.digest_to),
                "digest_enabled": spec.digest_enabled,
            },
        )
        missing = referenced - set(teams)
        teams.update(Team.objects.in_bulk(list(missing), field_name="name"))
        services = applier.upsert(
            Service,
            "service",
            config.services,
            lambda spec: {
                "team": teams[spec.team] if spec.team else None,
                "kind": spec.kind,
                "repos": list(spec.repos),
                "paths": list(spec.paths),
                "infer_failures": spec.infer_failures,
                "configured": True,  # declared: no longer one intake created (admin list)
            },
        )
        applier.alert_channels(teams)
        applier.depends_on(services)
        environments = applier.upsert(
            Environment, "environment", config.environments, _environment_fields
        )
        applier.targets(environments)
        if config.gates is not None:
            applier.gates(config.gates, prune=prune)
        if config.organisation is not None:
            applier.organisation(config.organisation)
        if prune:
            applier.prune()
        services.update(Service.objects.in_bulk(list(targeted - set(services)), field_name="name"))
        applier.figure_targets(teams, services, prune=prune)
        handled: set[str] = set()
        for _, applied in sources_apply.send(sender=Config, config=config, prune=prune):
            if isinstance(applied, SourcesApplied):
                handled |= applied.kinds
                applier.lines.extend(applied.lines)
                applier.errors.extend(applied.errors)
        # Facts depend on services' repos, globs and inference switch, and on environments'
        # tiers and configured targets: what changed is derived again from its records.
        after = _derivation_inputs()
        rederive = pairs_mark(
            service_ids=[i for i, v in after[0].items() if before[0].get(i) != v],
            environment_ids=[i for i, v in after[1].items() if before[1].get(i) != v],
        )
        if dry_run:
            transaction.set_rollback(True)
        else:
            facts_changed()  # teams, members, services, targets: what the figures group by

    unapplied_kinds = sorted({source.kind for source in config.sources} - handled)
    pending = [
        section
        for section, present in (
            (f"sources ({', '.join(unapplied_kinds)})", bool(unapplied_kinds)),
        )
        if present
    ]
    notes = (
        (f"{', '.join(pending)}: validated but not applied yet (a later release applies them)",)
        if pending
        else ()
    )
    return ConfigDiff(
        lines=tuple(applier.lines),
        errors=tuple(applier.errors),
        notes=notes,
        rederive=0 if dry_run else rederive,
    )


def _environment_fields(spec: EnvironmentSpec) -> dict[str, Any]:
    tier = spec.tier or tier_for_name(spec.name)
    return {
        "tier": tier,
        "tier_configured": spec.tier is not None,
        "order": spec.order if spec.order is not None else _DEFAULT_ORDER[Tier(tier)],
        "stale_after": spec.stale_after,
        "target_idle_after": spec.target_idle_after,
    }
