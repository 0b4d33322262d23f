"""A terraform source's options: its `stacks:` rules on workspace names, the placement they give
(`{name}` is the workspace's name), and what the file reader and provider check refuse."""

from __future__ import annotations

import pytest

from dora.config import ConfigError, StackSpec, config_load
from ingest.sources.stacks import StackPlace, stack_rules, stack_source_config_problems
from ingest.sources.terraform.config import TerraformConfig

RULES = [
    {"match": "network-prod", "service": "network", "environment": "production"},
    {"match": "network-*", "service": "network", "environment": "staging"},
    {"match": "app-??-*", "service": "app", "environment": "production", "target": "{name}"},
    {"match": "*", "service": "{name}", "environment": "development"},
]


@pytest.mark.parametrize(
    ("workspace", "placement"),
    [
        # The exact rule comes first, so it wins over the pattern below it.
        ("network-prod", StackPlace("network", "production")),
        ("network-stage", StackPlace("network", "staging")),
        ("app-eu-web", StackPlace("app", "production", "app-eu-web")),
        # "??" is exactly two characters: app-use-web falls through to the catch-all.
        ("app-use-web", StackPlace("app-use-web", "development")),
        ("Network-prod", StackPlace("Network-prod", "development")),  # case-sensitive
    ],
)
def test_terraform_workspace_patterns_place_first_match(
    workspace: str, placement: StackPlace
) -> None:
    assert TerraformConfig(rules=stack_rules(RULES)).placement(workspace) == placement


def test_terraform_workspace_without_rule_is_not_placed() -> None:
    config = TerraformConfig(
        rules=stack_rules([{"match": "a*", "service": "s", "environment": "e"}])
    )
    assert config.placement("billing") is None
    assert config.placement(None) is None


SOURCES_YAML = """\
sources:
  - name: tfc
    kind: terraform
    webhook_secret_env: TFC_NOTIFY_TOKEN
    token_env: TFC_API_TOKEN
    base_url: https://tfe.example.com
    stacks:
      - {match: "network-prod", service: network, environment: production}
      - {match: "app-*", service: app, environment: staging, target: "{name}"}
"""


def test_terraform_sources_entry_is_read_from_the_file() -> None:
    (spec,) = config_load(SOURCES_YAML).sources
    assert (spec.kind, spec.webhook_secret_env, spec.token_env, spec.base_url) == (
        "terraform",
        "TFC_NOTIFY_TOKEN",
        "TFC_API_TOKEN",
        "https://tfe.example.com",
    )
    assert spec.stacks == (
        StackSpec(match="network-prod", service="network", environment="production"),
        StackSpec(match="app-*", service="app", environment="staging", target="{name}"),
    )
    assert stack_source_config_problems(spec) == []


def test_terraform_sources_entry_problems_name_their_lines() -> None:
    text = (
        "sources:\n"  # 1
        "  - name: tfc\n"  # 2
        "    kind: terraform\n"  # 3
        "    repos: [acme/net]\n"  # 4
        "    stacks:\n"  # 5
        "      - {match: 'a*', service: s}\n"  # 6
        "  - name: gh\n"  # 7
        "    kind: github\n"  # 8
        "    token_env: GITHUB_TOKEN\n"  # 9
        "    org: acme\n"  # 10
        "    stacks: []\n"  # 11
        "  - name: tfc2\n"  # 12
        "    kind: terraform\n"  # 13
        "    workspaces: []\n"  # 14: the old key is gone
    )
    with pytest.raises(ConfigError) as info:
        config_load(text)
    assert info.value.errors[0] == "dora.yml:6: sources[0].stacks[0]: 'environment' is required"
    assert info.value.errors[1] == (
        "dora.yml:11: sources[1].stacks: only a terraform, atlantis, spacelift, env0, argocd, "
        "flux source names stacks"
    )
    assert info.value.errors[2].startswith("dora.yml:14: unknown key 'workspaces' in sources[2]")
    assert len(info.value.errors) == 3


def test_terraform_sources_entry_names_no_repos_and_needs_no_token() -> None:
    with pytest.raises(ConfigError) as info:
        config_load(SOURCES_YAML.replace("    token_env: TFC_API_TOKEN\n", "    org: acme\n"))
    assert info.value.errors == [
        "dora.yml:5: sources[0].org: a terraform source takes webhooks only and names "
        "stacks: (and webhook_secret_env), not org"
    ]
    without_token = SOURCES_YAML.replace("    token_env: TFC_API_TOKEN\n", "")
    (spec,) = config_load(without_token).sources
    assert spec.token_env is None  # the API token is optional: versions stay unfilled


def test_terraform_rules_refuse_keys_of_other_kinds() -> None:
    (spec,) = config_load(
        SOURCES_YAML.replace('target: "{name}"}', "destination: 'prod/*'}")
    ).sources
    assert stack_source_config_problems(spec) == [
        "sources.tfc.stacks[1].destination: only argocd rules name destination",
    ]
