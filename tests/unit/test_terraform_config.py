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
