"""The `stacks:` mapping of IaC run sources: a provider's stack/project and workspace names -> ours.

Shared by the providers whose runs become CONTRACT §1 `automation_run` events (Atlantis,
Spacelift, env0). A source lists rules; the first whose patterns match a run's names gives its
service (the stack), environment and, optionally, target. Patterns are fnmatch patterns
(`network-*`, `prod?`, `[ab]-*`), matched case-sensitively; a rule without `workspace` matches
any workspace, also a run that has none. A run no rule matches is skipped with the reason, never
guessed. Each provider says which of its names is `match` and which `workspace`
(docs/INFRA-SOURCES.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

RULE_KEYS = ("match", "workspace", "service", "environment", "target")
REQUIRED_KEYS = ("match", "service", "environment")


@dataclass(frozen=True)
class StackRule:
    """One rule: patterns on the provider's names, and the names they map to."""

    match: str
    service: str
    environment: str
    workspace: str | None = None
    target: str | None = None

    def matches(self, name: str | None, workspace: str | None) -> bool:
        if not name or not fnmatchcase(name, self.match):
            return False
        if self.workspace is None:
            return True
        return workspace is not None and fnmatchcase(workspace, self.workspace)

    def as_dict(self) -> dict[str, str]:
        return {key: value for key in RULE_KEYS if (value := getattr(self, key)) is not None}


@dataclass(frozen=True)
class StackPlace:
    """Where a run ran, in our names."""

    service: str
    environment: str
    target: str | None = None


def stack_rules_problems(rules: Any, where: str) -> list[str]:
    """What is wrong with a stored `stacks` value (a list of rule objects); empty when nothing."""
    if not isinstance(rules, list) or not rules:
        return [f"{where}: give stacks: [{{match, service, environment}}, ...]"]
    problems: list[str] = []
    for i, rule in enumerate(rules):
        here = f"{where}[{i}]"
        if not isinstance(rule, Mapping):
            problems.append(f"{here}: expected a mapping with match, service, environment")
            continue
        problems += [f"{here}: unknown key {key!r}" for key in rule if key not in RULE_KEYS]
        problems += [f"{here}: {key} is required" for key in REQUIRED_KEYS if not rule.get(key)]
        problems += [
            f"{here}.{key}: expected text"
            for key in RULE_KEYS
            if rule.get(key) is not None and not isinstance(rule[key], str)
        ]
    return problems


def stack_rules(rules: Iterable[Mapping[str, Any]]) -> tuple[StackRule, ...]:
    """The rules of a stored `stacks` value (already checked by stack_rules_problems)."""
    return tuple(
        StackRule(
            match=str(rule["match"]),
            service=str(rule["service"]),
            environment=str(rule["environment"]),
            workspace=rule.get("workspace") or None,
            target=rule.get("target") or None,
        )
        for rule in rules
    )


def stack_place(
    rules: Sequence[StackRule], names: Iterable[str | None], workspace: str | None
) -> StackPlace | None:
    """The place of the first rule matching one of `names` (tried in order per rule) and the
    workspace; None when no rule does."""
    candidates = [name for name in names if name]
    for rule in rules:
        if any(rule.matches(name, workspace) for name in candidates):
            return StackPlace(rule.service, rule.environment, rule.target)
    return None


def unmapped_reason(kind: str, names: Iterable[str | None], workspace: str | None) -> str:
    """Why a run was skipped: which names no rule matched, and what to add."""
    shown = " / ".join(repr(n) for n in names if n) or "no name"
    where = f" in workspace {workspace!r}" if workspace else ""
    return (
        f"{kind} stack {shown}{where} matches no rule of the source's stacks: add "
        "{match: <pattern>, service: <our stack>, environment: <ours>}"
    )


def stack_source_config_problems(spec: Any) -> list[str]:
    """The provider check (registry ConfigCheck) of a `sources:` entry of kind atlantis,
    spacelift or env0 (a dora.config.SourceSpec): webhook-only, so no org or repos, and
    stacks rules that each name match, service and environment."""
    where = f"sources.{spec.name}"
    problems = []
    if spec.org or spec.repos:
        problems.append(f"{where}: a {spec.kind} source takes webhooks only; it names stacks")
    rules = [{k: v for k, v in vars(rule).items() if v is not None} for rule in spec.stacks]
    return problems + stack_rules_problems(rules, f"{where}.stacks")
