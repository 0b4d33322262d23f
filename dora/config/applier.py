"""Each section of a `Config` written to its rows (dora.config.apply.config_apply runs it), with the
`+`, `~`, `-` lines that say what changed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db.models import Exists, OuterRef

from dora.config.load import _format_problems
from dora.config.spec import (
    CheckSpec,
    Config,
    ConfigError,
    FigureTargetSpec,
    GatesSpec,
    OrganisationSpec,
)
from dora.config.vocabulary import duration_format
from dora.models import (
    AlertChannel,
    AutomationRun,
    Deployment,
    Environment,
    FigureTarget,
    GateSettings,
    Incident,
    OrganisationSettings,
    Service,
    Target,
    Team,
)
from dora.models import GateRule as StoredGateRule


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(item) for item in value) + "]"
    if isinstance(value, timedelta):
        return duration_format(value)
    if isinstance(value, Team):
        return value.name
    return str(value)


def _update(obj: Any, desired: Mapping[str, Any]) -> str:
    """Set the fields that differ and save them; returns `field old -> new, ...` ('' if none)."""
    changes: list[str] = []
    for name, new in desired.items():
        if name == "team":
            old = obj.team
            if (old.pk if old else None) == (new.pk if new else None):
                continue
        else:
            old = getattr(obj, name)
            if old == new:
                continue
        changes.append(f"{name} {_show(old)} -> {_show(new)}")
        setattr(obj, name, new)
    if changes:
        obj.save(update_fields=list(desired))
    return ", ".join(changes)


class _Applier:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.lines: list[str] = []
        self.errors: list[str] = []

    def upsert(
        self, model: Any, label: str, specs: Sequence[Any], desired: Callable[[Any], dict]
    ) -> dict[str, Any]:
        """Create or update one row per spec, by name; returns name -> object."""
        queryset = model.objects.all()
        if model is Service:
            queryset = queryset.select_related("team")
        existing = queryset.in_bulk([spec.name for spec in specs], field_name="name")
        objects: dict[str, Any] = {}
        for spec in specs:
            values = desired(spec)
            obj = existing.get(spec.name)
            if obj is None:
                obj = model.objects.create(name=spec.name, **values)
                self.lines.append(f"+ {label} {spec.name}")
            elif changes := _update(obj, values):
                self.lines.append(f"~ {label} {spec.name}: {changes}")
            objects[spec.name] = obj
        return objects

    def depends_on(self, services: Mapping[str, Service]) -> None:
        """Each named service's `depends_on`: the infra stacks it runs on (declarative: a service
        named without it depends on none). Raises ConfigError naming a stack that is not an
        infra service (in the file, or in the database when the file does not name it)."""
        through = Service.depends_on.through
        current: dict[int, set[str]] = {}
        for from_id, name in through.objects.filter(
            from_service__in=[s.pk for s in services.values()]
        ).values_list("from_service_id", "to_service__name"):
            current.setdefault(from_id, set()).add(name)
        wanted = {name for spec in self.config.services for name in spec.depends_on}
        kinds = dict(Service.objects.filter(name__in=wanted).values_list("name", "kind"))
        kinds.update({spec.name: spec.kind for spec in self.config.services})
        problems = []
        for spec in self.config.services:
            for name in spec.depends_on:
                if name == spec.name:
                    why = "a service cannot depend on itself"
                elif name not in kinds:
                    why = "no such service in the file or the database (add it under services:)"
                elif kinds[name] != Service.Kind.INFRA:
                    why = f"'{name}' is of kind {kinds[name]}, not infra"
                else:
                    continue
                problems.append(
                    (spec.depends_on_line, f"service '{spec.name}': depends_on '{name}': {why}")
                )
        if problems:
            raise ConfigError(_format_problems(self.config.filename, problems))
        stacks = Service.objects.in_bulk(list(wanted), field_name="name")
        for spec in self.config.services:
            service = services[spec.name]
            old = current.get(service.pk, set())
            if old != set(spec.depends_on):
                service.depends_on.set([stacks[name] for name in spec.depends_on])
                self.lines.append(
                    f"~ service {spec.name}: depends_on {_show(sorted(old))} -> "
                    f"{_show(sorted(set(spec.depends_on)))}"
                )

    def alert_channels(self, teams: Mapping[str, Team]) -> None:
        """Each team whose `alerts:` the file gives gets exactly those channels among the ones
        the file manages (configured); channels added in the admin are left alone. Only
        variable names are shown, never what they hold."""
        for spec in self.config.teams:
            if spec.alerts is None:
                continue
            team = teams[spec.name]
            existing = {
                _channel_ident(c.kind, c.address, c.url_env, c.secret_env): c
                for c in AlertChannel.objects.filter(team=team, configured=True)
            }
            wanted = {}
            for channel in spec.alerts:
                address = ", ".join(channel.addresses) if channel.addresses else channel.url or ""
                ident = _channel_ident(
                    channel.kind, address, channel.url_env or "", channel.secret_env or ""
                )
                wanted[ident] = ident
            for ident in wanted:
                if ident not in existing:
                    kind, address, url_env, secret_env = ident
                    AlertChannel.objects.create(
                        team=team,
                        kind=kind,
                        address=address,
                        url_env=url_env,
                        secret_env=secret_env,
                        configured=True,
                    )
                    self.lines.append(f"+ alert channel {team.name}: {_channel_text(ident)}")
            for ident, channel in existing.items():
                if ident not in wanted:
                    channel.delete()
                    self.lines.append(f"- alert channel {team.name}: {_channel_text(ident)}")

    def targets(self, environments: Mapping[str, Environment]) -> None:
        """Listed targets are configured (created if new); others unconfigured, never deleted."""
        by_env: dict[int, dict[str, Target]] = {}
        for target in Target.objects.filter(environment__in=list(environments.values())):
            by_env.setdefault(target.environment_id, {})[target.name] = target
        create: list[Target] = []
        configure: list[int] = []
        unconfigure: list[int] = []
        for spec in self.config.environments:
            env = environments[spec.name]
            existing = by_env.get(env.pk, {})
            for name in spec.targets:
                target = existing.get(name)
                if target is None:
                    create.append(Target(environment=env, name=name, configured=True))
                    self.lines.append(f"+ target {env.name}/{name}")
                elif not target.configured:
                    configure.append(target.pk)
                    self.lines.append(f"~ target {env.name}/{name}: configured False -> True")
            for name, target in sorted(existing.items()):
                if target.configured and name not in spec.targets:
                    unconfigure.append(target.pk)
                    self.lines.append(
                        f"~ target {env.name}/{name or '-'}: configured True -> False "
                        "(no longer listed; kept for its deployments)"
                    )
        Target.objects.bulk_create(create)
        Target.objects.filter(pk__in=configure).update(configured=True)
        Target.objects.filter(pk__in=unconfigure).update(configured=False)

    def gates(self, spec: GatesSpec, *, prune: bool) -> None:
        """`gates:` into GateSettings (one row) and GateRule rows keyed by service/from/to."""
        defaults = spec.defaults
        wanted = {
            "min_soak": defaults.min_soak,
            "stale_after": defaults.stale_after,
            "severity": defaults.severity or "",
            "max_spread": defaults.max_spread,
        }
        stored = GateSettings.objects.first()
        if stored is None:
            if any(v not in (None, "") for v in wanted.values()):
                GateSettings.objects.create(**wanted)
                self.lines.append(f"+ gate defaults {_gate_defaults_text(wanted)}")
        elif changes := _update(stored, wanted):
            self.lines.append(f"~ gate defaults: {changes}")

        existing = {(r.service, r.from_env, r.to_env): r for r in StoredGateRule.objects.all()}
        seen = set()
        for position, rule in enumerate(spec.rules):
            key = (rule.service or "", rule.from_env or "", rule.to_env or "")
            seen.add(key)
            values = {
                "checks": _gate_checks_json(rule.checks),
                "position": position,
            }
            label = _gate_rule_text(*key)
            obj = existing.get(key)
            if obj is None:
                StoredGateRule.objects.create(
                    service=key[0], from_env=key[1], to_env=key[2], **values
                )
                self.lines.append(f"+ gate rule {label}")
            elif obj.checks != values["checks"] or obj.position != position:
                changes = _checks_change(obj.checks, values["checks"])
                obj.checks, obj.position = values["checks"], position
                obj.save(update_fields=["checks", "position"])
                if changes:
                    self.lines.append(f"~ gate rule {label}: {changes}")
        if prune:
            for key, obj in sorted(existing.items()):
                if key not in seen:
                    obj.delete()
                    self.lines.append(f"- gate rule {_gate_rule_text(*key)}")

    def figure_targets(
        self, teams: Mapping[str, Team], services: Mapping[str, Service], *, prune: bool
    ) -> None:
        """`targets:` into FigureTarget rows keyed by (team or service, figure, direction), with
        source `file`. A row made in the admin with the same key is taken over by the file; with
        prune, the file's rows it no longer lists are deleted; admin rows are otherwise left
        alone (CONTRACT §2)."""
        existing = {
            _figure_target_key(t): t for t in FigureTarget.objects.select_related("team", "service")
        }
        seen: set[tuple[str, str, str, str]] = set()
        for spec in self.config.targets:
            key = _figure_target_spec_key(spec)
            seen.add(key)
            direction = "below" if spec.below is not None else "above"
            threshold = float(spec.below if spec.below is not None else spec.above)
            wanted = {"threshold": threshold, "window": spec.window, "source": "file"}
            label = _figure_target_text(key)
            obj = existing.get(key)
            if obj is None:
                FigureTarget.objects.create(
                    team=teams[spec.team] if spec.team else None,
                    service=services[spec.service] if spec.service else None,
                    figure=spec.figure,
                    direction=direction,
                    **wanted,
                )
                self.lines.append(
                    f"+ figure target {label} {_number(threshold)} over "
                    f"{duration_format(spec.window)}"
                )
            elif changes := _update(obj, wanted):
                self.lines.append(f"~ figure target {label}: {changes}")
        if prune:
            for key, obj in sorted(existing.items()):
                if key not in seen and obj.source == FigureTarget.Source.FILE:
                    obj.delete()
                    self.lines.append(f"- figure target {_figure_target_text(key)}")

    def organisation(self, spec: OrganisationSpec) -> None:
        """`organisation:` into OrganisationSettings (one row); a key left out takes its
        default (industry: all)."""
        wanted = {"industry": spec.industry or "", "digest_to": list(spec.digest_to)}
        stored = OrganisationSettings.objects.first()
        if stored is None:
            if spec.industry or spec.digest_to:
                OrganisationSettings.objects.create(**wanted)
                shown = ", ".join(
                    f"{name} {_show(value)}" for name, value in wanted.items() if value
                )
                self.lines.append(f"+ organisation {shown}")
        elif changes := _update(stored, wanted):
            self.lines.append(f"~ organisation: {changes}")

    def prune(self) -> None:
        """Delete teams, services and environments not in the file, except those with history."""
        config = self.config
        for model, label, names in (
            (Service, "service", [s.name for s in config.services]),
            (Environment, "environment", [e.name for e in config.environments]),
        ):
            field_name = label  # Deployment.service, Incident.environment, ...
            absent = (
                model.objects.exclude(name__in=names)
                .annotate(
                    has_deployments=Exists(
                        Deployment.objects.filter(**{field_name: OuterRef("pk")})
                    ),
                    has_incidents=Exists(Incident.objects.filter(**{field_name: OuterRef("pk")})),
                    has_runs=Exists(AutomationRun.objects.filter(**{field_name: OuterRef("pk")})),
                )
                .order_by("name")
            )
            doomed: list[int] = []
            for obj in absent:
                if obj.has_deployments or obj.has_incidents or obj.has_runs:
                    self.errors.append(self._refusal(label, obj, field_name))
                else:
                    doomed.append(obj.pk)
                    self.lines.append(f"- {label} {obj.name}")
            model.objects.filter(pk__in=doomed).delete()

        teams = list(Team.objects.exclude(name__in=[t.name for t in config.teams]).order_by("name"))
        orphaned: dict[int, list[str]] = {}
        for team_id, name in Service.objects.filter(team__in=teams).values_list("team_id", "name"):
            orphaned.setdefault(team_id, []).append(name)
        for team in teams:
            line = f"- team {team.name}"
            if team.pk in orphaned:
                line += f" (services left without a team: {', '.join(sorted(orphaned[team.pk]))})"
            self.lines.append(line)
        Team.objects.filter(pk__in=[team.pk for team in teams]).delete()

    @staticmethod
    def _refusal(label: str, obj: Any, field_name: str) -> str:
        counts = [
            (Deployment.objects.filter(**{field_name: obj}).count(), "deployments"),
            (Incident.objects.filter(**{field_name: obj}).count(), "incidents"),
            (AutomationRun.objects.filter(**{field_name: obj}).count(), "automation runs"),
        ]
        held = ", ".join(f"{n} {what}" for n, what in counts if n)
        return (
            f"! {label} {obj.name}: not removed, it has {held} and deleting it would delete "
            f"that history; add it to the file under {label}s: to keep it, or delete its "
            "history in the admin first"
        )


def _number(value: float) -> str:
    """A threshold as the file writes it: 86400, 0.15, 1209600 (never 1.2096e+06)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _figure_target_key(target: FigureTarget) -> tuple[str, str, str, str]:
    if target.team_id:
        return ("team", target.team.name, target.figure, target.direction)
    return ("service", target.service.name, target.figure, target.direction)


def _figure_target_spec_key(spec: FigureTargetSpec) -> tuple[str, str, str, str]:
    direction = "below" if spec.below is not None else "above"
    if spec.team:
        return ("team", spec.team, spec.figure, direction)
    return ("service", spec.service or "", spec.figure, direction)


def _figure_target_text(key: tuple[str, str, str, str]) -> str:
    subject, name, figure, direction = key
    return f"{subject} {name}: {figure} {direction}"


def _channel_ident(kind: str, address: str, url_env: str, secret_env: str) -> tuple[str, ...]:
    return (kind, address, url_env, secret_env)


def _channel_text(ident: tuple[str, ...]) -> str:
    kind, address, url_env, secret_env = ident
    parts = [
        kind,
        address,
        f"${url_env}" if url_env else "",
        f"signed (${secret_env})" if secret_env else "",
    ]
    return " ".join(p for p in parts if p)


def _gate_checks_json(checks: Sequence[CheckSpec]) -> dict[str, Any]:
    """A rule's checks as GateRule.checks stores them (read by
    dora.reads.promotion_policy.checks_parse): the file's shape, a bare mode when only the mode is
    set, durations written as in the file."""
    data: dict[str, Any] = {}
    for spec in checks:
        values: dict[str, Any] = {}
        if spec.mode is not None:
            values["mode"] = spec.mode
        for key in ("min_soak", "stale_after"):
            if getattr(spec, key) is not None:
                values[key] = duration_format(getattr(spec, key))
        if spec.severity:
            values["severity"] = spec.severity
        if spec.max_spread is not None:
            values["max_spread"] = spec.max_spread
        if spec.stacks is not None:
            values["stacks"] = spec.stacks
        data[spec.name] = values["mode"] if list(values) == ["mode"] else values
    return data


def _checks_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """`check old -> new` for each check whose setting differs (a position change says nothing)."""
    return ", ".join(
        f"{name} {_show_check(old.get(name))} -> {_show_check(new.get(name))}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    )


def _show_check(value: Any) -> str:
    if value is None:
        return "(default)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) + "}"
    return str(value)


def _gate_rule_text(service: str, from_env: str, to_env: str) -> str:
    return f"{service or '*'}: {from_env or '*'} -> {to_env or '*'}"


def _gate_defaults_text(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {_show(v)}" for k, v in values.items() if v not in (None, ""))
