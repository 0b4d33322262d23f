"""The shared `stacks:` mapping (ingest.sources.stacks) and its `sources:` reading (dora.config)."""

from __future__ import annotations

import pytest

from dora.config import ConfigError, StackSpec, config_load
from ingest.sources.stacks import (
    StackPlace,
    StackRule,
    stack_place,
    stack_rules,
    stack_rules_problems,
    stack_source_config_problems,
)

RULES = (
    StackRule(match="network-*", workspace="prod*", service="network", environment="production"),
    StackRule(match="network-*", service="network", environment="staging", target="eu-1"),
    StackRule(match="db", service="database", environment="production"),
)


def test_the_first_matching_rule_wins_and_workspace_narrows_it() -> None:
    assert stack_place(RULES, ["network-core"], "production") == StackPlace(
        "network", "production", None
    )
    assert stack_place(RULES, ["network-core"], "staging") == StackPlace(
        "network", "staging", "eu-1"
    )
    # No workspace: rules with a workspace pattern never match; the next one does.
    assert stack_place(RULES, ["network-core"], None) == StackPlace("network", "staging", "eu-1")


def test_names_are_tried_in_order_and_patterns_are_case_sensitive() -> None:
    assert stack_place(RULES, [None, "db"], None) == StackPlace("database", "production", None)
    assert stack_place(RULES, ["DB"], None) is None
    assert stack_place(RULES, ["dbx"], None) is None  # whole-name match, not a prefix
    assert stack_place((), ["db"], None) is None


def test_stored_rules_are_checked_and_read() -> None:
    stored = [{"match": "a-*", "service": "a", "environment": "prod", "target": "t1"}]
    assert stack_rules_problems(stored, "stacks") == []
    assert stack_rules(stored) == (
        StackRule(match="a-*", service="a", environment="prod", target="t1"),
    )
    assert stack_rules_problems([], "stacks") == [
        "stacks: give stacks: [{match, service, environment}, ...]"
    ]
    assert stack_rules_problems([{"match": "x", "service": 3, "colour": "red"}], "s") == [
        "s[0]: unknown key 'colour'",
        "s[0]: environment is required",
        "s[0].service: expected text",
    ]


GOOD = """\
sources:
  - name: atlantis-acme
    kind: atlantis
    webhook_secret_env: ATLANTIS_HOOK_SECRET
    stacks:
      - {match: "network-*", workspace: "prod*", service: network, environment: production}
      - match: db
        service: database
        environment: production
        target: eu-1
  - name: spacelift
    kind: spacelift
    stacks: [{match: spacelift-demo, service: demo, environment: staging}]
"""


def test_a_stack_source_reads_its_rules_and_needs_no_token() -> None:
    atlantis, spacelift = config_load(GOOD).sources
    assert atlantis.kind == "atlantis" and atlantis.token_env is None
    assert atlantis.webhook_secret_env == "ATLANTIS_HOOK_SECRET"
    assert atlantis.stacks == (
        StackSpec(
            match="network-*", workspace="prod*", service="network", environment="production"
        ),
        StackSpec(match="db", service="database", environment="production", target="eu-1"),
    )
    assert spacelift.stacks == (
        StackSpec(match="spacelift-demo", service="demo", environment="staging"),
    )
    assert stack_source_config_problems(atlantis) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("        target: eu-1\n", "        target: eu-1\n        colour: red\n"),
            "colour",
        ),
        (
            GOOD.replace("        environment: production\n        target", "        target"),
            "'environment' is required",
        ),
        (
            GOOD.replace(
                "    stacks: [{match: spacelift-demo, service: demo, environment: staging}]",
                "    token_env: SPACELIFT_TOKEN",
            ),
            "token_env",
        ),
        (
            GOOD.replace("kind: spacelift", "kind: github\n    token_env: T\n    org: acme"),
            "only a terraform, atlantis, spacelift, env0, argocd, flux source names stacks",
        ),
    ],
)
def test_stack_source_mistakes_are_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config_load(text)
    assert message in str(exc.value)


def test_a_stack_source_without_stacks_is_an_error() -> None:
    with pytest.raises(ConfigError) as exc:
        config_load("sources:\n  - name: e\n    kind: env0\n")
    assert "sources[0]: give stacks:" in str(exc.value)


def test_name_is_the_matched_name_in_service_environment_and_target() -> None:
    rules = (StackRule(match="app-*", service="{name}", environment="dev", target="t-{name}"),)
    assert stack_place(rules, [None, "db", "app-eu"], None) == StackPlace(
        "app-eu", "dev", "t-app-eu"
    )


def test_destination_narrows_a_rule_to_one_of_the_destination_keys() -> None:
    rules = (
        StackRule(match="shop", destination="prod-*/*", service="shop", environment="production"),
        StackRule(match="shop", service="shop", environment="other"),
    )
    keys = ("prod-eu/shop", "https://10.0.0.1:6443/shop")
    assert stack_place(rules, ["shop"], None, keys).environment == "production"
    assert stack_place(rules, ["shop"], None, ("dev/shop",)).environment == "other"
    assert stack_place(rules, ["shop"], None).environment == "other"  # no destination known


def test_as_says_what_a_flux_rule_records() -> None:
    rules = stack_rules(
        [
            {"match": "K/infra/*", "as": "automation_run", "service": "net", "environment": "p"},
            {"match": "*", "service": "web", "environment": "p"},
        ]
    )
    assert stack_place(rules, ["K/infra/x"], None).as_ == "automation_run"  # type: ignore[union-attr]
    assert stack_place(rules, ["K/apps/x"], None).as_ == "deployment"  # type: ignore[union-attr]
    assert rules[0].as_dict() == {
        "match": "K/infra/*",
        "as": "automation_run",
        "service": "net",
        "environment": "p",
    }


def test_keys_of_other_kinds_and_a_bad_as_are_refused() -> None:
    rule = {"match": "m", "service": "s", "environment": "e"}
    assert stack_rules_problems([{**rule, "destination": "*/x"}], "stacks", "argocd") == []
    assert stack_rules_problems([{**rule, "destination": "*/x"}], "stacks", "flux") == [
        "stacks[0].destination: only argocd rules name destination"
    ]
    assert stack_rules_problems([{**rule, "workspace": "w"}], "stacks", "terraform") == [
        "stacks[0].workspace: only atlantis and env0 rules name workspace"
    ]
    assert stack_rules_problems([{**rule, "as": "job"}], "stacks", "flux") == [
        "stacks[0].as: 'job' is not one of deployment, automation_run"
    ]


def test_the_file_reads_as_and_refuses_another_value() -> None:
    text = (
        "sources:\n"
        "  - name: flux\n"
        "    kind: flux\n"
        "    stacks:\n"
        "      - {match: 'K/*', as: automation_run, service: net, environment: p}\n"
    )
    (spec,) = config_load(text).sources
    assert spec.stacks == (
        StackSpec(match="K/*", as_="automation_run", service="net", environment="p"),
    )
    assert stack_source_config_problems(spec) == []
    with pytest.raises(ConfigError) as exc:
        config_load(text.replace("as: automation_run", "as: job"))
    assert "sources[0].stacks[0].as" in str(exc.value)
