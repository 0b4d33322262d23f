"""Configuration as code (CONTRACT §2): load and validate a YAML file, then apply it idempotently.

`config_load` reads text and returns a frozen `Config`, or raises one `ConfigError` listing every
problem as `file:line: message`. It never touches the database: a service or figure target naming
a team that is not in the file is only checked when the caller passes `known_teams`, and always by
`config_apply`, which looks the team up in the database before writing anything.

`config_apply` is declarative for the objects the file names: a key left out takes its default
(an environment without `tier:` goes back to the tier inferred from its name, one without `order:`
to its tier's default position, one without `targets:` has no configured targets). Objects the file
does not name are left alone unless `prune=True`.

The parts: `spec` (the frozen specs, ConfigError), `vocabulary` (keys, figures, durations),
`reader` (the YAML node reader), `estate` (organisation, teams, services, environments),
`sources`, `gates`, `targets`, `alerts` (teams' channels), `load` (config_load) and `apply`
(config_apply, sources_apply).
"""

from __future__ import annotations

from dora.config.apply import ConfigDiff, SourcesApplied, config_apply, sources_apply
from dora.config.load import config_load
from dora.config.spec import (
    DEFAULT_STALE_AFTER,
    DEFAULT_TARGET_WINDOW,
    AlertChannelSpec,
    CheckSpec,
    CloudTrailAccountSpec,
    Config,
    ConfigError,
    DeploymentsSpec,
    EnvironmentSpec,
    FigureTargetSpec,
    GateDefaults,
    GateRule,
    GatesSpec,
    IncidentsSpec,
    OrganisationSpec,
    ServiceSpec,
    SourceSpec,
    StackSpec,
    TeamSpec,
)
from dora.config.vocabulary import FIGURES, duration_format, duration_parse

# What `from dora.config import X` finds: each part's public names.
__all__ = [
    "AlertChannelSpec",
    "CheckSpec",
    "CloudTrailAccountSpec",
    "Config",
    "ConfigDiff",
    "ConfigError",
    "DEFAULT_STALE_AFTER",
    "DEFAULT_TARGET_WINDOW",
    "DeploymentsSpec",
    "EnvironmentSpec",
    "FIGURES",
    "FigureTargetSpec",
    "GateDefaults",
    "GateRule",
    "GatesSpec",
    "IncidentsSpec",
    "OrganisationSpec",
    "ServiceSpec",
    "SourceSpec",
    "SourcesApplied",
    "StackSpec",
    "TeamSpec",
    "config_apply",
    "config_load",
    "duration_format",
    "duration_parse",
    "sources_apply",
]
