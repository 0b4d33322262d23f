"""`config_load`: a YAML text to a frozen `Config`, or one `ConfigError` naming every problem."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

import yaml

from dora.config.estate import _load_environments, _load_organisation, _load_services, _load_teams
from dora.config.gates import _load_gates
from dora.config.reader import _INVALID, _Reader, _unique_names
from dora.config.sources import _load_sources
from dora.config.spec import Config, ConfigError
from dora.config.targets import _load_figure_targets
from dora.config.vocabulary import _TOP_KEYS


def _team_reference_problems(
    config: Config, known_teams: Collection[str], *, because: str = ""
) -> list[tuple[int, str]]:
    """Services and figure targets naming a team that is neither in the file nor known."""
    defined = {team.name for team in config.teams} | set(known_teams)
    problems: list[tuple[int, str]] = []
    for service in config.services:
        if service.team is not None and service.team not in defined:
            problems.append(
                (
                    service.team_line,
                    f"service '{service.name}': team '{service.team}' is not defined in the file "
                    f"{because or 'or the database'} (add it under teams:)",
                )
            )
    for goal in config.targets:
        if goal.team is not None and goal.team not in defined:
            problems.append(
                (
                    goal.team_line,
                    f"target for {goal.figure}: team '{goal.team}' is not defined in the file "
                    f"{because or 'or the database'} (add it under teams:)",
                )
            )
    return problems


def _format_problems(filename: str, problems: Iterable[tuple[int, str]]) -> list[str]:
    return [
        f"{filename}:{line}: {message}" for line, message in sorted(problems, key=lambda p: p[0])
    ]


def config_load(
    text: str, filename: str = "dora.yml", *, known_teams: Collection[str] | None = None
) -> Config:
    """Parse and validate a configuration file (CONTRACT §2); raises ConfigError with every problem.

    Never reads the database. Team references are checked against the file's teams plus
    `known_teams` when given; `config_apply` always checks them against the database.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{filename}:{line}: not valid YAML: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}:1: not valid YAML: {exc}"]) from None
    if root is None:
        return Config(filename=filename)

    reader = _Reader()
    entries = reader.mapping(root, "", _TOP_KEYS)
    if entries is None:
        raise ConfigError(_format_problems(filename, reader.problems))
    sections: dict[str, Any] = {}
    loaders: dict[str, Callable[[_Reader, yaml.Node], Any]] = {
        "organisation": _load_organisation,
        "teams": _load_teams,
        "services": _load_services,
        "environments": _load_environments,
        "sources": _load_sources,
        "gates": _load_gates,
        "targets": _load_figure_targets,
    }
    for section, load in loaders.items():
        # A section with nothing under it (`gates:`) is the same as no section.
        if section in entries and reader.value(entries[section][1]) is not None:
            sections[section] = load(reader, entries[section][1])

    _unique_names(reader, "teams", ((t.name, t.line) for t in sections.get("teams", ())))
    _unique_names(reader, "services", ((s.name, s.line) for s in sections.get("services", ())))
    _unique_names(
        reader, "environments", ((e.name, e.line) for e in sections.get("environments", ()))
    )
    _unique_names(reader, "sources", ((s.name, s.line) for s in sections.get("sources", ())))

    config = Config(
        filename=filename,
        teams=tuple(sections.get("teams", ())),
        services=tuple(sections.get("services", ())),
        environments=tuple(sections.get("environments", ())),
        sources=tuple(sections.get("sources", ())),
        gates=sections.get("gates") if sections.get("gates") is not _INVALID else None,
        targets=tuple(sections.get("targets", ())),
        organisation=(
            sections.get("organisation") if sections.get("organisation") is not _INVALID else None
        ),
    )
    if "services" in sections:  # a pagerduty source maps to services the file declares
        declared = {s.name for s in sections["services"]}
        for line, where, service in reader.source_services:
            if service not in declared:
                reader.error(line, f"{where}: {service!r} is not a service of this file")
    if known_teams is not None:
        known = {*known_teams, *reader.team_names}
        reader.problems.extend(_team_reference_problems(config, known))
    if reader.problems:
        raise ConfigError(_format_problems(filename, reader.problems))
    return config
