"""The `sources:` section: each source's keys, its stacks and accounts, and the per-kind checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import yaml

from dora.config.reader import _INVALID, _describe, _line, _Reader
from dora.config.spec import (
    CloudTrailAccountSpec,
    DeploymentsSpec,
    IncidentsSpec,
    SourceSpec,
    StackSpec,
)
from dora.config.vocabulary import (
    _AWS_ACCOUNT,
    _CLOUDTRAIL_ACCOUNT_KEYS,
    _CLOUDTRAIL_KEYS,
    _DEPLOYMENT_ORIGINS,
    _DEPLOYMENTS_KEYS,
    _GIT_KEYS,
    _INCIDENTS_KEYS,
    _SOURCE_KEYS,
    _SOURCE_KINDS,
    _STACK_AS,
    _STACK_KEYS,
    _STACK_SOURCE_KINDS,
)


def _load_deployments(reader: _Reader, node: yaml.Node, where: str) -> Any:
    entries = reader.mapping(node, where, _DEPLOYMENTS_KEYS)
    if entries is None:
        return _INVALID
    origins = reader.get(entries, "from", where, reader.strings, default=())
    if origins is not _INVALID:
        for origin in origins:
            if origin not in _DEPLOYMENT_ORIGINS:
                reader.error(
                    entries["from"][1],
                    f"{where}.from: '{origin}' is not one of: {', '.join(_DEPLOYMENT_ORIGINS)}",
                )
                origins = _INVALID
                break
    environments: Any = ()
    if "environments" in entries:
        env_where = f"{where}.environments"
        env_entries = _free_mapping(reader, entries["environments"][1], env_where)
        if env_entries is None:
            environments = _INVALID
        else:
            pairs = [
                (theirs, reader.string(value_node, f"{env_where}.{theirs}"))
                for theirs, value_node in env_entries
            ]
            environments = _INVALID if any(ours is _INVALID for _, ours in pairs) else tuple(pairs)
    values = {
        "from_": origins,
        "workflow_pattern": reader.get(entries, "workflow_pattern", where, reader.regex),
        "tag_pattern": reader.get(entries, "tag_pattern", where, reader.regex),
        "environments": environments,
    }
    return _INVALID if _INVALID in values.values() else DeploymentsSpec(**values)


def _free_mapping(
    reader: _Reader, node: yaml.Node, where: str
) -> list[tuple[str, yaml.Node]] | None:
    """A mapping whose keys are data (names), not schema: keys must be unique text."""
    if not isinstance(node, yaml.MappingNode):
        reader.error(node, f"{where}: expected a mapping (name: value)")
        return None
    seen: set[str] = set()
    pairs: list[tuple[str, yaml.Node]] = []
    for key_node, value_node in node.value:
        key = reader.value(key_node)
        if not isinstance(key, str):
            reader.error(key_node, f"{where}: names must be text, not {_describe(key)} (quote it)")
        elif key in seen:
            reader.error(key_node, f"{where}: '{key}' is listed twice")
        else:
            seen.add(key)
            pairs.append((key, value_node))
    return pairs


def _load_stacks(reader: _Reader, node: yaml.Node, where: str) -> Any:
    """`stacks:` rules: each {match, service, environment} with optional workspace, target."""
    rules: list[StackSpec] = []
    invalid = False
    for i, item in enumerate(reader.sequence(node, where)):
        here = f"{where}[{i}]"
        entries = reader.mapping(item, here, _STACK_KEYS)
        if entries is None:
            invalid = True
            continue
        values = {
            key: reader.get(
                entries,
                key,
                here,
                reader.choice(_STACK_AS) if key == "as" else reader.string,
                required_at=item if key in ("match", "service", "environment") else None,
            )
            for key in _STACK_KEYS
        }
        if _INVALID in values.values():
            invalid = True
            continue
        values["as_"] = values.pop("as")
        rules.append(StackSpec(**values))
    return _INVALID if invalid else tuple(rules)


def _load_accounts(reader: _Reader, node: yaml.Node, where: str) -> Any:
    """A cloudtrail source's `accounts:`: {"<12-digit id>": {environment, service, regions}}."""
    pairs = _free_mapping(reader, node, where)
    if pairs is None:
        return _INVALID
    accounts: list[CloudTrailAccountSpec] = []
    invalid = False
    for account, value_node in pairs:
        here = f"{where}.{account}"
        if not _AWS_ACCOUNT.match(account):
            reader.error(value_node, f"{here}: an AWS account id is 12 digits (quote it)")
            invalid = True
            continue
        entries = reader.mapping(value_node, here, _CLOUDTRAIL_ACCOUNT_KEYS)
        if entries is None:
            invalid = True
            continue
        values = {
            "environment": reader.get(
                entries, "environment", here, reader.string, required_at=value_node
            ),
            "service": reader.get(entries, "service", here, reader.string, required_at=value_node),
            "regions": reader.get(entries, "regions", here, reader.names_map, default=()),
        }
        if _INVALID in values.values():
            invalid = True
            continue
        accounts.append(CloudTrailAccountSpec(account=account, **values))
    return _INVALID if invalid else tuple(accounts)


def _load_sources(reader: _Reader, node: yaml.Node) -> list[SourceSpec]:
    specs: list[SourceSpec] = []
    for i, item in enumerate(reader.sequence(node, "sources")):
        where = f"sources[{i}]"
        problems_before = len(reader.problems)
        entries = reader.mapping(item, where, _SOURCE_KEYS)
        if entries is None:
            continue
        deployments = None
        if "deployments" in entries:
            deployments = _load_deployments(
                reader, entries["deployments"][1], f"{where}.deployments"
            )
        incidents: Any = None
        if "incidents" in entries:
            inc_where = f"{where}.incidents"
            inc_entries = reader.mapping(entries["incidents"][1], inc_where, _INCIDENTS_KEYS)
            label = (
                _INVALID
                if inc_entries is None
                else reader.get(inc_entries, "label", inc_where, reader.string)
            )
            incidents = _INVALID if label is _INVALID else IncidentsSpec(label=label)
        values = {
            "name": reader.get(entries, "name", where, reader.string, required_at=item),
            "kind": reader.get(
                entries, "kind", where, reader.choice(_SOURCE_KINDS), required_at=item
            ),
            "base_url": reader.get(entries, "base_url", where, reader.url),
            "token_env": reader.get(entries, "token_env", where, reader.env_var),
            "app_id": reader.get(entries, "app_id", where, reader.integer),
            "installation_id": reader.get(entries, "installation_id", where, reader.integer),
            "private_key_env": reader.get(entries, "private_key_env", where, reader.env_var),
            "private_key_file": reader.get(entries, "private_key_file", where, reader.string),
            "org": reader.get(entries, "org", where, reader.string),
            "repos": reader.get(entries, "repos", where, reader.strings, default=()),
            "include": reader.get(entries, "include", where, reader.strings, default=()),
            "exclude": reader.get(entries, "exclude", where, reader.strings, default=()),
            "include_archived": reader.get(entries, "include_archived", where, reader.boolean),
            "include_forks": reader.get(entries, "include_forks", where, reader.boolean),
            "group": reader.get(entries, "group", where, reader.string),
            "projects": reader.get(entries, "projects", where, reader.strings, default=()),
            "services": reader.get(entries, "services", where, reader.names_map, default=()),
            "urgency_severity": reader.get(
                entries, "urgency_severity", where, reader.names_map, default=()
            ),
            "priority_severity": reader.get(
                entries, "priority_severity", where, reader.names_map, default=()
            ),
            "alerts_tag": reader.get(entries, "alerts_tag", where, reader.string),
            "interval": reader.get(entries, "interval", where, reader.duration),
            "backfill": reader.get(entries, "backfill", where, reader.duration),
            "deployments": deployments,
            "incidents": incidents,
            "webhook_secret_env": reader.get(entries, "webhook_secret_env", where, reader.env_var),
            "path": reader.get(entries, "path", where, reader.string),
            "url": reader.get(entries, "url", where, reader.string),
            "repo": reader.get(entries, "repo", where, reader.string),
            "branches": reader.get(entries, "branches", where, reader.strings, default=()),
            "tags": reader.get(entries, "tags", where, reader.regex),
            "service": reader.get(entries, "service", where, reader.string),
            "environment": reader.get(entries, "environment", where, reader.string),
            "stacks": (
                _load_stacks(reader, entries["stacks"][1], f"{where}.stacks")
                if "stacks" in entries
                else ()
            ),
            "pipeline_roles": reader.get(
                entries, "pipeline_roles", where, reader.strings, default=()
            ),
            "accounts": (
                _load_accounts(reader, entries["accounts"][1], f"{where}.accounts")
                if "accounts" in entries
                else ()
            ),
            "ignored_sources": reader.get(entries, "ignored_sources", where, reader.strings),
        }
        if _INVALID in values.values() or len(reader.problems) > problems_before:
            continue  # the checks across keys below only make sense once each key is valid
        if _source_problems(reader, item, entries, where, values):
            specs.append(SourceSpec(**values, line=_line(item)))
            if values["kind"] in _INCIDENT_KINDS:
                for value_key, value_node in entries["services"][1].value:
                    reader.source_services.append(
                        (_line(value_node), f"{where}.services.{value_key.value}", value_node.value)
                    )
            if values["kind"] == "cloudtrail":
                for account, value_node in entries["accounts"][1].value:
                    place = f"{where}.accounts.{account.value}.service"
                    for key_node, service_node in value_node.value:
                        if key_node.value == "service":
                            reader.source_services.append(
                                (_line(service_node), place, service_node.value)
                            )
            if values["kind"] == "git" and values["service"]:
                reader.source_services.append(
                    (_line(entries["service"][1]), f"{where}.service", values["service"])
                )
    return specs


_INCIDENT_KINDS = ("pagerduty", "opsgenie")  # sources whose services: map theirs to ours
_OPSGENIE_PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
_MIN_INTERVAL = timedelta(minutes=1)  # the scheduler looks for due sources once a minute
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_PROJECT_PATH = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+$")  # GitLab subgroups too


def _source_problems(
    reader: _Reader,
    item: yaml.Node,
    entries: Mapping[str, tuple[yaml.Node, yaml.Node]],
    where: str,
    values: Mapping[str, Any],
) -> bool:
    """Checks across a source's keys; records each problem and returns True when there is none."""
    before = len(reader.problems)
    if values["kind"] in _STACK_SOURCE_KINDS:
        taken = ["name", "kind", "webhook_secret_env", "stacks"]
        if values["kind"] == "terraform":  # its token (optional) and address fill versions
            taken += ["token_env", "base_url"]
        for key in (key for key in _SOURCE_KEYS if key not in taken):
            if key in entries:
                reader.error(
                    entries[key][0],
                    f"{where}.{key}: a {values['kind']} source takes webhooks only and names "
                    "stacks: (and webhook_secret_env), not " + key,
                )
        if not values["stacks"]:
            reader.error(
                item,
                f"{where}: give stacks: [{{match: <pattern>, service: <our stack>, "
                "environment: <ours>}] (the provider's stack names -> ours)",
            )
        return len(reader.problems) == before
    if values["kind"] == "cloudtrail":
        taken = ["name", "kind", "webhook_secret_env", *_CLOUDTRAIL_KEYS]
        for key in (key for key in _SOURCE_KEYS if key not in taken):
            if key in entries:
                reader.error(
                    entries[key][0],
                    f"{where}.{key}: a cloudtrail source names pipeline_roles, accounts, "
                    "ignored_sources (and webhook_secret_env), not " + key,
                )
        if not values["accounts"]:
            reader.error(
                item,
                f'{where}: give accounts: {{"123456789012": {{environment: production, '
                "service: network}} (the AWS accounts whose changes count)",
            )
        return len(reader.problems) == before
    for key in _CLOUDTRAIL_KEYS:
        if key in entries:
            reader.error(entries[key][0], f"{where}.{key}: only a cloudtrail source names {key}")
    if "stacks" in entries:
        reader.error(
            entries["stacks"][0],
            f"{where}.stacks: only a {', '.join(_STACK_SOURCE_KINDS)} source names stacks",
        )
    if values["kind"] == "git":
        _git_source_problems(reader, item, entries, where, values)
    else:
        for key in _GIT_KEYS:
            if key in entries:
                reader.error(entries[key][0], f"{where}.{key}: only a git source names {key}")
    # git reads no API; terraform's token is optional (it only fills versions)
    app_keys = ("app_id", "installation_id", "private_key_env", "private_key_file")
    if values["kind"] == "github" and values["app_id"] is not None:
        if values["token_env"] is not None:
            reader.error(
                entries["token_env"][0],
                f"{where}: give token_env (a token) or app_id (a GitHub App), not both",
            )
        key_from = [k for k in ("private_key_env", "private_key_file") if values[k]]
        if not key_from:
            reader.error(
                entries["app_id"][0],
                f"{where}: a GitHub App needs its private key: private_key_env (the variable "
                "holding the PEM) or private_key_file",
            )
        elif len(key_from) == 2:
            reader.error(
                entries["private_key_file"][0],
                f"{where}: give private_key_env or private_key_file, not both",
            )
        if values["installation_id"] is None and not values["org"]:
            reader.error(
                entries["app_id"][0],
                f"{where}: with repos, a GitHub App needs installation_id (only an org's "
                "installation can be looked up)",
            )
    elif values["token_env"] is None and values["kind"] not in ("git", "terraform"):
        reader.error(
            item,
            f"{where}: 'token_env' is required: the name of the environment variable holding "
            "the token (e.g. GITHUB_TOKEN), never the token itself"
            + (
                " (or app_id and private_key_env: a GitHub App)"
                if values["kind"] == "github"
                else ""
            ),
        )
    github = values["kind"] == "github"
    for key in app_keys[1:] if github else app_keys:
        if key in entries and (values["app_id"] is None or not github):
            reader.error(
                entries[key][0],
                f"{where}.{key}: only with app_id (a github source's GitHub App)"
                if values["kind"] == "github"
                else f"{where}.{key}: only a github source names a GitHub App",
            )
    for key in ("include", "exclude", "include_archived", "include_forks"):
        if key in entries and (values["kind"] != "github" or not values["org"]):
            reader.error(
                entries[key][0],
                f"{where}.{key}: chooses among an org's repositories (a github source with org)",
            )
    if values["kind"] == "github":
        if values["org"] and values["repos"]:
            reader.error(
                entries["repos"][0],
                f"{where}: give org or repos, not both (org reads every repository of it)",
            )
        elif not values["org"] and not values["repos"]:
            reader.error(item, f"{where}: give org (every repository of it) or repos: [owner/name]")
        for i, repo in enumerate(values["repos"]):
            if not _REPO_NAME.match(repo):
                reader.error(entries["repos"][1], f"{where}.repos[{i}]: {repo!r} is not owner/name")
    if values["kind"] == "gitlab":
        for key, instead in (("org", "group"), ("repos", "projects")):
            if key in entries:
                reader.error(
                    entries[key][0], f"{where}.{key}: a gitlab source names {instead}, not {key}"
                )
        if values["group"] and values["projects"]:
            reader.error(
                entries["projects"][0],
                f"{where}: give group or projects, not both (group reads every project of it)",
            )
        elif not values["group"] and not values["projects"]:
            reader.error(
                item, f"{where}: give group (every project of it) or projects: [group/project]"
            )
        for i, path in enumerate(values["projects"]):
            if not _PROJECT_PATH.match(path):
                reader.error(
                    entries["projects"][1].value[i],
                    f"{where}.projects[{i}]: {path!r} is not group/project",
                )
    else:
        for key in ("group", "projects"):
            if key in entries:
                reader.error(
                    entries[key][0],
                    f"{where}.{key}: only a gitlab source names {key} (use org or repos)",
                )
    if values["kind"] == "pagerduty":
        for key in ("org", "repos", "deployments", "incidents"):
            if key in entries:
                reader.error(
                    entries[key][0],
                    f"{where}.{key}: a pagerduty source names services "
                    "({PagerDuty service id: our service}), not " + key,
                )
        if not values["services"]:
            reader.error(
                item,
                f"{where}: give services: {{PXXXXXX: checkout}} (PagerDuty service id -> ours)",
            )
        for severity_key, _ in values["urgency_severity"]:
            if severity_key not in ("high", "low"):
                reader.error(
                    entries["urgency_severity"][1],
                    f"{where}.urgency_severity.{severity_key}: PagerDuty urgencies are high, low",
                )
    if values["kind"] == "opsgenie":
        for key in ("org", "repos", "deployments", "incidents", "urgency_severity"):
            if key in entries:
                reader.error(
                    entries[key][0],
                    f"{where}.{key}: an opsgenie source names services "
                    "({Opsgenie service id: our service}), priority_severity and alerts_tag, "
                    "not " + key,
                )
        if not values["services"]:
            reader.error(
                item,
                f"{where}: give services: {{<Opsgenie service id>: checkout}} (Opsgenie -> ours)",
            )
        for severity_key, _ in values["priority_severity"]:
            if severity_key not in _OPSGENIE_PRIORITIES:
                reader.error(
                    entries["priority_severity"][1],
                    f"{where}.priority_severity.{severity_key}: Opsgenie priorities are "
                    + ", ".join(_OPSGENIE_PRIORITIES),
                )
    elif values["kind"] != "pagerduty":
        for key in ("services", "urgency_severity"):
            if key in entries:
                reader.error(
                    entries[key][0],
                    f"{where}.{key}: only a pagerduty source names {key} (or an opsgenie one)",
                )
    if values["kind"] != "opsgenie":
        for key in ("priority_severity", "alerts_tag"):
            if key in entries:
                reader.error(entries[key][0], f"{where}.{key}: only an opsgenie source names {key}")
    interval, backfill = values["interval"], values["backfill"]
    if interval is not None and interval < _MIN_INTERVAL:
        reader.error(
            entries["interval"][1],
            f"{where}.interval: at least 1m (the scheduler looks for due sources every minute)",
        )
    if backfill is not None and backfill.total_seconds() % 86400:
        reader.error(entries["backfill"][1], f"{where}.backfill: whole days, e.g. 180d")
    return len(reader.problems) == before


def _git_source_problems(
    reader: _Reader,
    item: yaml.Node,
    entries: Mapping[str, tuple[yaml.Node, yaml.Node]],
    where: str,
    values: Mapping[str, Any],
) -> None:
    """A git source reads one repository: a path or a clone URL, its name, tags as deployments.
    (ingest.sources.git.config checks the location itself: the same checks for the admin.)"""
    for key in ("base_url", "token_env", "org", "repos", "deployments", "incidents"):
        if key in entries:
            reader.error(
                entries[key][0],
                f"{where}.{key}: a git source names path or url, repo, branches, tags, "
                f"service and environment, not {key}",
            )
    if values["path"] and values["url"]:
        reader.error(
            entries["url"][0],
            f"{where}: give path (a repository the worker reads in place) or url (one it "
            "clones), not both",
        )
    elif not values["path"] and not values["url"]:
        reader.error(
            item, f"{where}: give path: /srv/git/shop.git or url: https://host/acme/shop.git"
        )
    if not values["repo"]:
        reader.error(item, f"{where}: 'repo' is required: the repository's name, e.g. acme/shop")
    if values["tags"] and not values["service"]:
        reader.error(entries["tags"][0], f"{where}.tags: needs service: the service tags deploy")
    for key in ("service", "environment"):
        if key in entries and not values["tags"]:
            reader.error(entries[key][0], f"{where}.{key}: only with tags: (tags deploy it)")
