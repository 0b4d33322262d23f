"""The organisation, teams, services and environments sections."""

from __future__ import annotations

from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from dora.config.alerts import _load_alert_channels
from dora.config.reader import _INVALID, _line, _Reader
from dora.config.spec import (
    DEFAULT_STALE_AFTER,
    EnvironmentSpec,
    OrganisationSpec,
    ServiceSpec,
    TeamSpec,
)
from dora.config.vocabulary import (
    _ENVIRONMENT_KEYS,
    _ORGANISATION_DIGEST_KEYS,
    _ORGANISATION_KEYS,
    _SERVICE_KEYS,
    _TEAM_DIGEST_KEYS,
    _TEAM_KEYS,
)
from dora.models import (
    TARGET_IDLE_AFTER,
    Service,
    Tier,
)


def _emails(reader: _Reader, node: yaml.Node, path: str) -> Any:
    """A list of e-mail addresses; each one that is not an address is a problem on its line."""
    items = reader.strings(node, path)
    if items is _INVALID:
        return _INVALID
    bad = False
    for i, item in enumerate(node.value):
        text = reader.value(item)
        if not isinstance(text, str) or not text.strip():
            continue  # `strings` has said so
        try:
            validate_email(text.strip())
        except ValidationError:
            reader.error(item, f"{path}[{i}]: {text.strip()!r} is not an e-mail address")
            bad = True
    return _INVALID if bad else items


def _digest(reader: _Reader, node: yaml.Node, where: str, keys: tuple[str, ...]) -> Any:
    """`digest: {to: [...], enabled: true}` as {"to": (...), "enabled": bool}."""
    entries = reader.mapping(node, where, keys)
    if entries is None:
        return _INVALID
    values = {
        "to": reader.get(entries, "to", where, lambda n, p: _emails(reader, n, p), default=())
    }
    if "enabled" in keys:
        values["enabled"] = reader.get(entries, "enabled", where, reader.boolean, default=True)
    return _INVALID if _INVALID in values.values() else values


def _load_teams(reader: _Reader, node: yaml.Node) -> list[TeamSpec]:
    specs: list[TeamSpec] = []
    for i, item in enumerate(reader.sequence(node, "teams")):
        where = f"teams[{i}]"
        entries = reader.mapping(item, where, _TEAM_KEYS)
        if entries is None:
            continue
        values = {
            "name": reader.get(entries, "name", where, reader.string, required_at=item),
            "members": reader.get(entries, "members", where, reader.strings, default=()),
            "timezone": reader.get(entries, "timezone", where, reader.timezone, default="UTC"),
            "industry": reader.get(entries, "industry", where, reader.industry),
            "alerts": reader.get(
                entries, "alerts", where, lambda n, p: _load_alert_channels(reader, n, p)
            ),
        }
        digest = reader.get(
            entries,
            "digest",
            where,
            lambda n, p: _digest(reader, n, p, _TEAM_DIGEST_KEYS),
            default={"to": (), "enabled": True},
        )
        if values["name"] is not _INVALID:
            reader.team_names.add(values["name"])
        if _INVALID not in values.values() and digest is not _INVALID:
            specs.append(
                TeamSpec(
                    **values,
                    digest_to=digest["to"],
                    digest_enabled=digest["enabled"],
                    line=_line(item),
                )
            )
    return specs


def _load_organisation(reader: _Reader, node: yaml.Node) -> Any:
    entries = reader.mapping(node, "organisation", _ORGANISATION_KEYS)
    if entries is None:
        return _INVALID
    industry = reader.get(entries, "industry", "organisation", reader.industry)
    digest = reader.get(
        entries,
        "digest",
        "organisation",
        lambda n, p: _digest(reader, n, p, _ORGANISATION_DIGEST_KEYS),
        default={"to": ()},
    )
    if industry is _INVALID or digest is _INVALID:
        return _INVALID
    return OrganisationSpec(industry=industry, digest_to=digest["to"])


def _load_services(reader: _Reader, node: yaml.Node) -> list[ServiceSpec]:
    specs: list[ServiceSpec] = []
    for i, item in enumerate(reader.sequence(node, "services")):
        where = f"services[{i}]"
        entries = reader.mapping(item, where, _SERVICE_KEYS)
        if entries is None:
            continue
        kinds = [kind.value for kind in Service.Kind]
        values = {
            "name": reader.get(entries, "name", where, reader.string, required_at=item),
            "team": reader.get(entries, "team", where, reader.string),
            "kind": reader.get(
                entries, "kind", where, reader.choice(kinds), default=Service.Kind.APP.value
            ),
            "repos": reader.get(entries, "repos", where, reader.strings, default=()),
            "paths": reader.get(entries, "paths", where, reader.strings, default=()),
            "infer_failures": reader.get(
                entries, "infer_failures", where, reader.boolean, default=True
            ),
            "depends_on": reader.get(entries, "depends_on", where, reader.strings, default=()),
        }
        if _INVALID not in values.values():
            team_line = _line(entries["team"][1]) if "team" in entries else _line(item)
            depends_line = _line(entries["depends_on"][1]) if "depends_on" in entries else 0
            specs.append(
                ServiceSpec(
                    **values,
                    line=_line(item),
                    team_line=team_line,
                    depends_on_line=depends_line or _line(item),
                )
            )
    return specs


def _load_environments(reader: _Reader, node: yaml.Node) -> list[EnvironmentSpec]:
    specs: list[EnvironmentSpec] = []
    tiers = [tier.value for tier in Tier]
    for i, item in enumerate(reader.sequence(node, "environments")):
        where = f"environments[{i}]"
        entries = reader.mapping(item, where, _ENVIRONMENT_KEYS)
        if entries is None:
            continue
        values = {
            "name": reader.get(entries, "name", where, reader.string, required_at=item),
            "tier": reader.get(entries, "tier", where, reader.choice(tiers)),
            "order": reader.get(entries, "order", where, reader.integer),
            "stale_after": reader.get(
                entries, "stale_after", where, reader.duration, default=DEFAULT_STALE_AFTER
            ),
            "targets": reader.get(entries, "targets", where, reader.strings, default=()),
            "target_idle_after": reader.get(
                entries, "target_idle_after", where, reader.duration, default=TARGET_IDLE_AFTER
            ),
        }
        if _INVALID not in values.values():
            specs.append(EnvironmentSpec(**values, line=_line(item)))
    return specs
