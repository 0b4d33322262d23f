"""A terraform source's options: workspace patterns, placement, and what is wrong with them."""

from __future__ import annotations

import pytest

from ingest.sources.terraform.config import (
    DEFAULT_BASE_URL,
    DEFAULT_SECRET_ENV,
    Placement,
    terraform_config,
    terraform_config_problems,
)

OPTIONS = {
    "token_env": "TFC_TOKEN",
    "base_url": "https://tfe.example.com/",
    "workspaces": [
        {"match": "network-prod", "stack": "network", "environment": "production"},
        {"match": "network-*", "stack": "network", "environment": "staging"},
        {"match": "app-??-*", "stack": "app", "environment": "production", "target": "{workspace}"},
        {"match": "*", "stack": "{workspace}", "environment": "development"},
    ],
}


def test_terraform_config_reads_the_options() -> None:
    config = terraform_config("tfc", OPTIONS)
    assert (config.name, config.secret_env, config.token_env, config.base_url) == (
        "tfc",
        DEFAULT_SECRET_ENV,
        "TFC_TOKEN",
        "https://tfe.example.com",  # the trailing slash dropped
    )
    assert len(config.workspaces) == 4
    bare = terraform_config("t", {"workspaces": OPTIONS["workspaces"][:1]})
    assert (bare.token_env, bare.base_url) == (None, DEFAULT_BASE_URL)


@pytest.mark.parametrize(
    ("workspace", "placement"),
    [
        # The exact rule comes first, so it wins over the pattern below it.
        ("network-prod", Placement("network", "production")),
        ("network-stage", Placement("network", "staging")),
        ("app-eu-web", Placement("app", "production", "app-eu-web")),
        # "??" is exactly two characters: app-use-web falls through to the catch-all.
        ("app-use-web", Placement("app-use-web", "development")),
        ("Network-prod", Placement("Network-prod", "development")),  # case-sensitive
    ],
)
def test_terraform_workspace_patterns_place_first_match(
    workspace: str, placement: Placement
) -> None:
    assert terraform_config("tfc", OPTIONS).placement(workspace) == placement


def test_terraform_workspace_without_rule_is_not_placed() -> None:
    rule = {"match": "a*", "stack": "s", "environment": "e"}
    config = terraform_config("tfc", {"workspaces": [rule]})
    assert config.placement("billing") is None
    assert config.placement(None) is None


def test_terraform_config_problems_name_the_key() -> None:
    problems = terraform_config_problems(
        "tfc",
        {
            "secret": "X",
            "base_url": "tfe.example.com",
            "workspaces": [
                {"match": "a*", "stack": "s"},
                "b*",
                {"match": "c", "stack": "s", "environment": "e", "target": "", "pool": 1},
            ],
        },
    )
    assert problems == [
        "DORA_TERRAFORM_WEBHOOKS.tfc.secret: unknown key (known: secret_env, token_env, "
        "base_url, workspaces)",
        "DORA_TERRAFORM_WEBHOOKS.tfc.base_url: an http(s) address, e.g. https://app.terraform.io",
        "DORA_TERRAFORM_WEBHOOKS.tfc.workspaces[0].environment: required, a non-empty string",
        "DORA_TERRAFORM_WEBHOOKS.tfc.workspaces[1]: expected a mapping with match, stack, "
        "environment (target optional)",
        "DORA_TERRAFORM_WEBHOOKS.tfc.workspaces[2].pool: unknown key",
        "DORA_TERRAFORM_WEBHOOKS.tfc.workspaces[2].target: a non-empty string when given",
    ]
    assert terraform_config_problems("tfc", {}) == [
        "DORA_TERRAFORM_WEBHOOKS.tfc.workspaces: required, a list of "
        "{match, stack, environment, target}"
    ]
    with pytest.raises(ValueError, match="workspaces: required"):
        terraform_config("tfc", {})


SOURCES_YAML = """\
sources:
  - name: tfc
    kind: terraform
    webhook_secret_env: TFC_NOTIFY_TOKEN
    token_env: TFC_API_TOKEN
    workspaces:
      - {match: "network-prod", stack: network, environment: production}
      - {match: "app-*", stack: app, environment: staging, target: "{workspace}"}
"""


def test_terraform_sources_entry_is_read_from_the_file() -> None:
    from dora.config import WorkspaceSpec, config_load

    (spec,) = config_load(SOURCES_YAML).sources
    assert (spec.kind, spec.webhook_secret_env, spec.token_env) == (
        "terraform",
        "TFC_NOTIFY_TOKEN",
        "TFC_API_TOKEN",
    )
    assert spec.workspaces == (
        WorkspaceSpec(match="network-prod", stack="network", environment="production"),
        WorkspaceSpec(match="app-*", stack="app", environment="staging", target="{workspace}"),
    )


def test_terraform_sources_entry_problems_name_their_lines() -> None:
    from dora.config import ConfigError, config_load

    text = (
        "sources:\n"  # 1
        "  - name: tfc\n"  # 2
        "    kind: terraform\n"  # 3
        "    repos: [acme/net]\n"  # 4
        "    workspaces:\n"  # 5
        "      - {match: 'a*', stack: s}\n"  # 6
        "  - name: gh\n"  # 7
        "    kind: github\n"  # 8
        "    token_env: GITHUB_TOKEN\n"  # 9
        "    org: acme\n"  # 10
        "    workspaces: []\n"  # 11
        "  - name: tfc2\n"  # 12
        "    kind: terraform\n"  # 13
    )
    with pytest.raises(ConfigError) as info:
        config_load(text)
    assert info.value.errors == [
        "dora.yml:6: sources[0].workspaces[0]: 'environment' is required",
        "dora.yml:11: sources[1].workspaces: only a terraform source names it",
        "dora.yml:12: sources[2]: give workspaces: [{match: 'net-*', stack: network, "
        "environment: production}] (workspace name pattern -> stack, environment)",
    ]


def test_terraform_sources_entry_names_no_repos_and_needs_no_token() -> None:
    from dora.config import ConfigError, config_load

    with pytest.raises(ConfigError) as info:
        config_load(SOURCES_YAML.replace("    token_env: TFC_API_TOKEN\n", "    org: acme\n"))
    assert info.value.errors == [
        "dora.yml:5: sources[0].org: a terraform source names workspaces "
        "([{match, stack, environment, target}]), not org"
    ]
    without_token = SOURCES_YAML.replace("    token_env: TFC_API_TOKEN\n", "")
    (spec,) = config_load(without_token).sources
    assert spec.token_env is None  # the API token is optional: versions stay unfilled
