"""A terraform source's options: which workspace is which stack, environment and target.

The options come from settings.DORA_TERRAFORM_WEBHOOKS (one entry per source name):

    {"terraform": {
        "secret_env": "DORA_TERRAFORM_WEBHOOK_SECRET",   # the notification token's variable
        "token_env": "DORA_TERRAFORM_TOKEN",             # optional: API token, fills versions
        "base_url": "https://app.terraform.io",          # Terraform Enterprise: its address
        "workspaces": [
            {"match": "network-prod", "stack": "network", "environment": "production"},
            {"match": "app-*-staging", "stack": "app", "environment": "staging",
             "target": "{workspace}"},
        ]}}

`match` is a shell pattern (fnmatch, case-sensitive) over the workspace's name; the first rule
that matches places the workspace. `stack`, `environment` and `target` may say `{workspace}`
(the workspace's name). Pure: no Django, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

DEFAULT_SOURCE = "terraform"
DEFAULT_SECRET_ENV = "DORA_TERRAFORM_WEBHOOK_SECRET"  # noqa: S105 - a variable name
DEFAULT_BASE_URL = "https://app.terraform.io"
RULE_KEYS = ("match", "stack", "environment", "target")
NAME_LIMIT = 200  # CONTRACT §1: services, environments, targets at most 200 characters


@dataclass(frozen=True)
class Placement:
    """Where a workspace's runs land: our stack (a service of kind infra), environment, target."""

    stack: str
    environment: str
    target: str | None = None


@dataclass(frozen=True)
class WorkspaceRule:
    """One `workspaces:` item: a name pattern and the placement of the workspaces it matches."""

    match: str
    stack: str
    environment: str
    target: str | None = None

    def place(self, workspace: str) -> Placement | None:
        if not fnmatchcase(workspace, self.match):
            return None

        def fill(value: str) -> str:
            return value.replace("{workspace}", workspace)

        return Placement(
            stack=fill(self.stack),
            environment=fill(self.environment),
            target=fill(self.target) if self.target else None,
        )


@dataclass(frozen=True)
class TerraformConfig:
    """One terraform source: its name, secret and token variables, API root and rules."""

    name: str = DEFAULT_SOURCE
    secret_env: str = DEFAULT_SECRET_ENV
    token_env: str | None = None
    base_url: str = DEFAULT_BASE_URL
    workspaces: tuple[WorkspaceRule, ...] = ()

    def placement(self, workspace: str | None) -> Placement | None:
        """The first rule's placement for the workspace's name; None when no rule matches."""
        if not workspace:
            return None
        for rule in self.workspaces:
            placed = rule.place(workspace)
            if placed is not None:
                return placed
        return None


def _rule_problems(where: str, item: Any) -> list[str]:
    if not isinstance(item, Mapping):
        return [f"{where}: expected a mapping with match, stack, environment (target optional)"]
    problems = [f"{where}.{key}: unknown key" for key in item if key not in RULE_KEYS]
    for key in ("match", "stack", "environment"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            problems.append(f"{where}.{key}: required, a non-empty string")
    target = item.get("target")
    if target is not None and (not isinstance(target, str) or not target.strip()):
        problems.append(f"{where}.target: a non-empty string when given")
    for key in ("stack", "environment", "target"):
        value = item.get(key)
        if isinstance(value, str) and "{workspace}" not in value and len(value) > NAME_LIMIT:
            problems.append(f"{where}.{key}: at most {NAME_LIMIT} characters")
    return problems


def terraform_config_problems(name: str, options: Mapping[str, Any]) -> list[str]:
    """What is wrong with one source's options (empty when nothing is); messages start with
    `DORA_TERRAFORM_WEBHOOKS.<name>`."""
    where = f"DORA_TERRAFORM_WEBHOOKS.{name}"
    known = ("secret_env", "token_env", "base_url", "workspaces")
    problems = [
        f"{where}.{key}: unknown key (known: {', '.join(known)})"
        for key in options
        if key not in known
    ]
    for key in ("secret_env", "token_env", "base_url"):
        value = options.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            problems.append(f"{where}.{key}: a non-empty string when given")
    base_url = options.get("base_url")
    if isinstance(base_url, str) and base_url and not base_url.startswith(("https://", "http://")):
        problems.append(f"{where}.base_url: an http(s) address, e.g. {DEFAULT_BASE_URL}")
    rules = options.get("workspaces")
    if not isinstance(rules, Sequence) or isinstance(rules, str) or not rules:
        problems.append(
            f"{where}.workspaces: required, a list of {{match, stack, environment, target}}"
        )
        return problems
    for index, item in enumerate(rules):
        problems += _rule_problems(f"{where}.workspaces[{index}]", item)
    return problems


def terraform_config(name: str, options: Mapping[str, Any]) -> TerraformConfig:
    """The source's options as a TerraformConfig; ValueError naming every problem."""
    problems = terraform_config_problems(name, options)
    if problems:
        raise ValueError("; ".join(problems))
    return TerraformConfig(
        name=name,
        secret_env=options.get("secret_env") or DEFAULT_SECRET_ENV,
        token_env=options.get("token_env") or None,
        base_url=(options.get("base_url") or DEFAULT_BASE_URL).rstrip("/"),
        workspaces=tuple(
            WorkspaceRule(
                match=item["match"],
                stack=item["stack"],
                environment=item["environment"],
                target=item.get("target") or None,
            )
            for item in options["workspaces"]
        ),
    )
