"""The `stacks:` mapping of IaC and GitOps sources: a provider's names for where something ran
-> our service, environment and target.

One rule shape for every kind in STACK_KINDS (HCP Terraform, Atlantis, Spacelift, env0, Argo CD,
Flux). A source lists rules; the first whose patterns match gives the service (an infra stack
for automation runs, an app service for Argo CD and Flux deployments), environment and,
optionally, target. Patterns are fnmatch patterns (`network-*`, `prod?`, `[ab]-*`), matched
case-sensitively; `*` also crosses `/`. Besides `match` (required), a rule may narrow with
`workspace` (a pattern on the run's workspace: atlantis, env0) or `destination` (a pattern on
Argo CD's `<cluster>/<namespace>`), and a Flux rule says with `as` whether the objects it
matches are `deployment`s (the default) or `automation_run`s. `{name}` in service, environment
or target stands for the name the rule matched (e.g. a Terraform workspace's). A run no rule
matches is skipped with the reason, never guessed. Each provider says which of its names is
`match` (docs/INFRA-SOURCES.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

# Kinds configured by `stacks:` rules (webhooks only; terraform's token_env is optional).
STACK_KINDS = ("terraform", "atlantis", "spacelift", "env0", "argocd", "flux")
RULE_KEYS = ("match", "workspace", "destination", "as", "service", "environment", "target")
REQUIRED_KEYS = ("match", "service", "environment")
# The optional keys only some kinds read; any other kind refuses them rather than ignore them.
KIND_KEYS = {"workspace": ("atlantis", "env0"), "destination": ("argocd",), "as": ("flux",)}
AS_VALUES = ("deployment", "automation_run")
NAME = "{name}"  # in service, environment, target: the name the rule matched


@dataclass(frozen=True)
class StackPlace:
    """Where a run ran, in our names; `as_` what a Flux object's events are."""

    service: str
    environment: str
    target: str | None = None
    as_: str = "deployment"


@dataclass(frozen=True)
class StackRule:
    """One rule: patterns on the provider's names, and the names they map to."""

    match: str
    service: str
    environment: str
    workspace: str | None = None
    target: str | None = None
    destination: str | None = None
    as_: str | None = None

    def matches(
        self, name: str | None, workspace: str | None, destinations: Sequence[str] = ()
    ) -> bool:
        if not name or not fnmatchcase(name, self.match):
            return False
        if self.workspace is not None and not (
            workspace is not None and fnmatchcase(workspace, self.workspace)
        ):
            return False
        if self.destination is not None:
            return any(fnmatchcase(d, self.destination) for d in destinations)
        return True

    def place(self, name: str) -> StackPlace:
        def fill(value: str) -> str:
            return value.replace(NAME, name)

        return StackPlace(
            fill(self.service),
            fill(self.environment),
            fill(self.target) if self.target else None,
            self.as_ or "deployment",
        )

    def as_dict(self) -> dict[str, str]:
        values = {key: getattr(self, "as_" if key == "as" else key) for key in RULE_KEYS}
        return {key: value for key, value in values.items() if value is not None}


def stack_rules_problems(rules: Any, where: str, kind: str | None = None) -> list[str]:
    """What is wrong with a stored `stacks` value (a list of rule objects) of a source of
    `kind`; empty when nothing."""
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
        if kind is not None:
            problems += [
                f"{here}.{key}: only {' and '.join(kinds)} rules name {key}"
                for key, kinds in KIND_KEYS.items()
                if rule.get(key) is not None and kind not in kinds
            ]
        if rule.get("as") is not None and rule["as"] not in AS_VALUES:
            problems.append(f"{here}.as: {rule['as']!r} is not one of {', '.join(AS_VALUES)}")
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
            destination=rule.get("destination") or None,
            as_=rule.get("as") or None,
        )
        for rule in rules
    )


def stack_place(
    rules: Sequence[StackRule],
    names: Iterable[str | None],
    workspace: str | None,
    destinations: Sequence[str] = (),
) -> StackPlace | None:
    """The place of the first rule matching one of `names` (tried in order per rule), the
    workspace and one of the destinations; None when no rule does."""
    candidates = [name for name in names if name]
    for rule in rules:
        for name in candidates:
            if rule.matches(name, workspace, destinations):
                return rule.place(name)
    return None


def unmapped_reason(kind: str, names: Iterable[str | None], workspace: str | None) -> str:
    """Why a run was skipped: which names no rule matched, and what to add."""
    shown = " / ".join(repr(n) for n in names if n) or "no name"
    where = f" in workspace {workspace!r}" if workspace else ""
    return (
        f"{kind} stack {shown}{where} matches no rule of the source's stacks: add "
        "{match: <pattern>, service: <ours>, environment: <ours>}"
    )


def spec_rules(spec: Any) -> list[dict[str, str]]:
    """A dora.config.SourceSpec's `stacks:` as the Source row keeps them (`as_` is `as`)."""
    return [
        {("as" if key == "as_" else key): value for key, value in vars(rule).items() if value}
        for rule in spec.stacks
    ]


def stack_source_config_problems(spec: Any) -> list[str]:
    """The provider check (registry ConfigCheck) of a `sources:` entry of a kind in STACK_KINDS
    (a dora.config.SourceSpec): webhook-only, so no org or repos, and stacks rules that each
    name match, service and environment, with only the optional keys its kind reads."""
    where = f"sources.{spec.name}"
    problems = []
    if spec.org or spec.repos:
        problems.append(f"{where}: a {spec.kind} source takes webhooks only; it names stacks")
    return problems + stack_rules_problems(spec_rules(spec), f"{where}.stacks", spec.kind)
