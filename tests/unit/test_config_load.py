"""config_load: validation of configuration files, without a database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dora.config import ConfigError, config_load, duration_format, duration_parse

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "dora.example.yml"


def _errors(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_load(text, **kwargs)  # type: ignore[arg-type]
    return info.value.errors


def test_config_load_example_file_is_valid() -> None:
    config = config_load(EXAMPLE.read_text(), "dora.example.yml", known_teams=())

    assert [team.name for team in config.teams] == ["payments", "platform"]
    assert config.teams[0].timezone == "Europe/Berlin"
    assert [c.kind for c in config.teams[0].alerts or ()] == ["slack", "email", "webhook"]
    assert config.teams[0].alerts[0].url_env == "DORA_SLACK_PAYMENTS"
    assert config.teams[1].alerts is None  # platform names no channels: keeps its own
    checkout = config.services[0]
    assert (checkout.name, checkout.team, checkout.kind) == ("checkout", "payments", "app")
    assert checkout.repos == ("acme/checkout",)
    staging = next(env for env in config.environments if env.name == "staging")
    assert (staging.tier, staging.order, staging.stale_after) == ("staging", 2, timedelta(days=7))
    assert staging.targets == ("s-a", "s-b")
    assert config.sources[0].token_env == "GITHUB_TOKEN"
    assert config.sources[0].deployments is not None
    assert config.sources[0].deployments.environment_map == {
        "prod": "production",
        "stage": "staging",
    }
    git = next(source for source in config.sources if source.kind == "git")
    assert (git.url, git.path, git.repo) == (
        "https://git.example.com/acme/checkout.git",
        None,
        "acme/checkout",
    )
    assert (git.branches, git.tags, git.service) == (("main",), r"^v\d", "checkout")
    cloudtrail = next(source for source in config.sources if source.kind == "cloudtrail")
    assert [(a.account, a.service) for a in cloudtrail.accounts] == [("123456789012", "network")]
    assert config.gates is not None
    checks = {check.name: check for check in config.gates.rules[0].checks}
    assert checks["target_rollout_complete"].mode == "off"  # YAML reads a bare off as false
    assert checks["soak_time"].min_soak == timedelta(hours=2)
    assert config.targets[0].figure == "lead_time.p50_seconds"


def test_config_load_defaults_for_omitted_keys() -> None:
    config = config_load(
        "teams:\n  - name: a\nservices:\n  - name: s\nenvironments:\n  - name: e\n"
    )

    assert config.teams[0].timezone == "UTC"
    assert config.teams[0].members == ()
    service = config.services[0]
    assert (service.team, service.kind, service.infer_failures) == (None, "app", True)
    env = config.environments[0]
    assert (env.tier, env.order, env.stale_after, env.targets) == (
        None,
        None,
        timedelta(days=7),
        (),
    )


def test_config_load_empty_file_is_an_empty_config() -> None:
    config = config_load("# nothing yet\n")

    assert config.teams == () and config.services == () and config.gates is None


def test_config_load_unknown_key_names_key_and_line() -> None:
    text = (
        "teams:\n"  # 1
        "  - name: payments\n"  # 2
        "services:\n"  # 3
        "  - name: checkout\n"  # 4
        "    tem: payments\n"  # 5
    )

    assert _errors(text) == [
        "dora.yml:5: unknown key 'tem' in services[0] "
        "(expected one of: name, team, kind, repos, paths, infer_failures, depends_on)"
    ]


def test_config_load_unknown_top_level_key_uses_given_filename() -> None:
    errors = _errors("teams: []\nservice: []\n", filename="config/prod.yml")

    assert len(errors) == 1
    assert errors[0].startswith("config/prod.yml:2: unknown key 'service' at the top level")


def test_config_load_bad_duration_names_line() -> None:
    text = "environments:\n  - name: staging\n    stale_after: 7 days\n"

    errors = _errors(text)

    assert len(errors) == 1
    assert errors[0].startswith(
        "dora.yml:3: environments[0].stale_after: '7 days' is not a duration"
    )


@pytest.mark.parametrize("value", ["7", "7x", "d7", "1.5h", "-1d", "0d"])
def test_config_load_rejects_duration(value: str) -> None:
    errors = _errors(f"environments:\n  - name: staging\n    stale_after: {value}\n")

    assert len(errors) == 1 and errors[0].startswith("dora.yml:3: environments[0].stale_after")


@pytest.mark.parametrize(
    ("text", "expected", "shown"),
    [
        ("45s", timedelta(seconds=45), "45s"),
        ("30m", timedelta(minutes=30), "30m"),
        ("90m", timedelta(minutes=90), "90m"),
        ("12h", timedelta(hours=12), "12h"),
        ("7d", timedelta(days=7), "7d"),
        ("2w", timedelta(weeks=2), "14d"),
    ],
)
def test_duration_parse_units(text: str, expected: timedelta, shown: str) -> None:
    assert duration_parse(text) == expected
    assert duration_format(expected) == shown


def test_config_load_bad_tier() -> None:
    errors = _errors("environments:\n  - name: live\n    tier: prod\n")

    assert errors == [
        "dora.yml:3: environments[0].tier: 'prod' is not one of: "
        "development, test, staging, production"
    ]


def test_config_load_bad_timezone() -> None:
    errors = _errors("teams:\n  - name: payments\n    timezone: Europe/Berlinn\n")

    assert len(errors) == 1
    assert errors[0].startswith("dora.yml:3: teams[0].timezone: unknown time zone 'Europe/Berlinn'")


def test_config_load_secret_in_file_points_to_token_env() -> None:
    text = "sources:\n  - name: gh\n    kind: github\n    token: ghp_0123456789abcdef\n"

    errors = _errors(text)

    assert len(errors) == 1
    assert errors[0].startswith("dora.yml:4: secret 'token' in sources[0]")
    assert "token_env" in errors[0]


def test_config_load_token_value_in_token_env_is_an_error() -> None:
    text = "sources:\n  - name: gh\n    kind: github\n    token_env: ghp_0123456789abcdef\n"

    errors = _errors(text)

    assert len(errors) == 1 and "looks like a token" in errors[0]


def test_config_load_collects_all_errors_at_once() -> None:
    text = (
        "teams:\n"  # 1
        "  - name: payments\n"  # 2
        "    timezone: Mars/Olympus\n"  # 3
        "services:\n"  # 4
        "  - name: checkout\n"  # 5
        "    kind: ap\n"  # 6
        "environments:\n"  # 7
        "  - name: staging\n"  # 8
        "    tier: stagin\n"  # 9
        "    order: two\n"  # 10
        "gates:\n"  # 11
        "  defaults: {min_soak: soon}\n"  # 12
        "targets:\n"  # 13
        "  - team: payments\n"  # 14
        "    figure: lead_time.p5\n"  # 15
        "    below: 1\n"  # 16
    )

    errors = _errors(text)

    assert [error.split(":")[1] for error in errors] == ["3", "6", "9", "10", "12", "15"]


def test_config_load_duplicate_names_are_errors() -> None:
    errors = _errors("teams:\n  - name: a\n  - name: a\n")

    assert errors == ["dora.yml:3: teams: 'a' is already defined on line 2"]


def test_config_load_duplicate_keys_are_errors() -> None:
    errors = _errors("teams:\n  - name: a\n    name: b\n")

    assert errors == ["dora.yml:3: duplicate key 'name' in teams[0] (first on line 2)"]


def test_config_load_missing_name_is_an_error() -> None:
    assert _errors("services:\n  - team: a\n") == ["dora.yml:2: services[0]: 'name' is required"]


def test_config_load_wrong_type_asks_to_quote() -> None:
    errors = _errors("environments:\n  - name: staging\n    targets: [1, s-b]\n")

    assert errors == [
        "dora.yml:3: environments[0].targets[0]: expected a text value, got the number 1 (quote it)"
    ]


def test_config_load_invalid_yaml_names_line() -> None:
    errors = _errors("teams:\n  - name: a\n   - name: b\n")

    assert len(errors) == 1 and errors[0].startswith("dora.yml:3: not valid YAML")


def test_config_load_unknown_team_with_known_teams() -> None:
    text = "teams:\n  - name: a\nservices:\n  - name: s\n    team: b\n  - name: t\n    team: c\n"

    errors = _errors(text, known_teams={"c"})

    assert len(errors) == 1
    assert errors[0].startswith("dora.yml:5: service 's': team 'b' is not defined")


def test_config_load_without_known_teams_defers_team_check() -> None:
    config = config_load("services:\n  - name: s\n    team: elsewhere\n")

    assert config.services[0].team == "elsewhere"


def test_config_load_gate_check_settings() -> None:
    text = (
        "gates:\n"
        "  rules:\n"
        "    - checks:\n"
        "        no_drift: loud\n"  # 4
        "        soak_time: {min_soak: 0m}\n"
        "        source_current: {min_soak: 1h}\n"  # 6: not a threshold of this check
        "        infra_paritee: warn\n"  # 7
    )

    errors = _errors(text)

    assert [error.split(":")[1] for error in errors] == ["4", "6", "7"]
    assert "unknown key 'min_soak' in gates.rules[0].checks.source_current" in errors[1]


def test_config_load_figure_target_needs_one_subject_and_one_bound() -> None:
    text = (
        "targets:\n"
        "  - team: a\n"  # 2
        "    service: b\n"
        "    figure: lead_time.p50_seconds\n"
        "    below: 1\n"
        "  - service: b\n"  # 6
        "    figure: change_failure_rate.rate\n"
    )

    errors = _errors(text, known_teams={"a"})

    assert errors == [
        "dora.yml:2: targets[0]: give exactly one of team or service",
        "dora.yml:6: targets[1]: give exactly one of below or above",
    ]


SOURCE = "sources:\n  - name: gh\n    kind: github\n    token_env: GITHUB_TOKEN\n"


def test_config_load_source_needs_org_or_repos_not_both() -> None:
    both = _errors(SOURCE + "    org: acme\n    repos: [acme/shop]\n")
    neither = _errors(SOURCE)

    assert both == [
        "dora.yml:6: sources[0]: give org or repos, not both (org reads every repository of it)"
    ]
    assert neither == [
        "dora.yml:2: sources[0]: give org (every repository of it) or repos: [owner/name]"
    ]


def test_config_load_source_missing_token_env_names_what_to_write() -> None:
    errors = _errors("sources:\n  - name: gh\n    kind: github\n    org: acme\n")

    assert len(errors) == 1
    assert errors[0].startswith("dora.yml:2: sources[0]: 'token_env' is required")
    assert "GITHUB_TOKEN" in errors[0]


def test_config_load_source_unknown_kind_and_bad_pattern_name_their_lines() -> None:
    text = (
        "sources:\n"  # 1
        "  - name: gh\n"  # 2
        "    kind: bitbucket\n"  # 3
        "    token_env: TOKEN\n"  # 4
        "    org: acme\n"  # 5
        "  - name: gh2\n"  # 6
        "    kind: github\n"  # 7
        "    token_env: TOKEN\n"  # 8
        "    org: acme\n"  # 9
        "    deployments:\n"  # 10
        "      from: [workflow_jobs]\n"  # 11
        "      workflow_pattern: '^deploy('\n"  # 12
    )

    errors = _errors(text)

    assert errors[0] == (
        "dora.yml:3: sources[0].kind: 'bitbucket' is not one of: "
        "github, gitlab, pagerduty, git, opsgenie, terraform, atlantis, spacelift, env0, argocd, "
        "flux, cloudtrail"
    )
    assert errors[1].startswith(
        "dora.yml:12: sources[1].deployments.workflow_pattern: not a valid regular expression"
    )
    assert len(errors) == 2


def test_config_load_source_repo_interval_backfill_and_webhook_secret() -> None:
    text = SOURCE + (
        "    repos: [acme/shop, shop]\n"  # 5
        "    interval: 30s\n"  # 6
        "    backfill: 36h\n"  # 7
    )

    errors = _errors(text)

    assert errors == [
        "dora.yml:5: sources[0].repos[1]: 'shop' is not owner/name",
        "dora.yml:6: sources[0].interval: at least 1m (the scheduler looks for due sources "
        "every minute)",
        "dora.yml:7: sources[0].backfill: whole days, e.g. 180d",
    ]
    config = config_load(SOURCE + "    org: acme\n    webhook_secret_env: ACME_HOOK_SECRET\n")
    assert config.sources[0].webhook_secret_env == "ACME_HOOK_SECRET"
    assert "token" in _errors(SOURCE + "    org: acme\n    webhook_secret: s3cr3t\n")[0]


CLOUDTRAIL = """\
services:
  - name: network
sources:
  - name: ct-prod
    kind: cloudtrail
    webhook_secret_env: CT_SECRET
    pipeline_roles: ["arn:aws:iam::123456789012:role/deploy-*"]
    accounts:
      "123456789012": {environment: production, service: network, regions: {us-east-2: use2}}
      "111122223333": {environment: staging, service: network}
"""


def test_config_load_cloudtrail_source() -> None:
    (source,) = config_load(CLOUDTRAIL).sources

    assert (source.kind, source.webhook_secret_env) == ("cloudtrail", "CT_SECRET")
    assert source.pipeline_roles == ("arn:aws:iam::123456789012:role/deploy-*",)
    assert [(a.account, a.environment, a.service, a.regions) for a in source.accounts] == [
        ("123456789012", "production", "network", (("us-east-2", "use2"),)),
        ("111122223333", "staging", "network", ()),
    ]
    assert source.ignored_sources is None  # left out: the mapper's default
    given = config_load(CLOUDTRAIL + "    ignored_sources: []\n").sources[0]
    assert given.ignored_sources == ()


def test_config_load_cloudtrail_mistakes_are_numbered() -> None:
    text = (
        "sources:\n"  # 1
        "  - name: ct\n"  # 2
        "    kind: cloudtrail\n"  # 3
        "    token_env: AWS_TOKEN\n"  # 4
        "    accounts:\n"  # 5
        "      123456789012: {environment: production, service: network}\n"  # 6
        '      "12345": {environment: production, service: network}\n'  # 7
        '      "123456789013": {environment: production, region: x}\n'  # 8
        "  - name: ct2\n"  # 9
        "    kind: cloudtrail\n"  # 10
        "  - name: gh\n"  # 11
        "    kind: github\n"  # 12
        "    token_env: TOKEN\n"  # 13
        "    org: acme\n"  # 14
        "    pipeline_roles: [x]\n"  # 15
    )

    assert _errors(text) == [
        "dora.yml:6: sources[0].accounts: names must be text, not the number 123456789012 "
        "(quote it)",
        "dora.yml:7: sources[0].accounts.12345: an AWS account id is 12 digits (quote it)",
        "dora.yml:8: unknown key 'region' in sources[0].accounts.123456789013 (expected one of: "
        "environment, service, regions)",
        "dora.yml:8: sources[0].accounts.123456789013: 'service' is required",
        'dora.yml:9: sources[1]: give accounts: {"123456789012": {environment: production, '
        "service: network}} (the AWS accounts whose changes count)",
        "dora.yml:15: sources[2].pipeline_roles: only a cloudtrail source names pipeline_roles",
    ]


def test_config_load_cloudtrail_other_keys_and_unknown_services() -> None:
    text = CLOUDTRAIL.replace("service: network}", "service: vpc}") + "    org: acme\n"

    assert _errors(text) == [
        "dora.yml:11: sources[0].org: a cloudtrail source names pipeline_roles, accounts, "
        "ignored_sources (and webhook_secret_env), not org",
    ]
    assert _errors(CLOUDTRAIL.replace("service: network}", "service: vpc}")) == [
        "dora.yml:10: sources[0].accounts.111122223333.service: 'vpc' is not a service of this "
        "file",
    ]


def test_config_load_digest_recipients_and_switch() -> None:
    config = config_load(
        "organisation:\n"
        "  digest:\n"
        "    to: [board@example.com]\n"
        "teams:\n"
        "  - name: a\n"
        "    digest: {to: [a-list@example.com, lead@example.com], enabled: false}\n"
        "  - name: b\n"
    )

    assert config.organisation is not None
    assert config.organisation.digest_to == ("board@example.com",)
    a, b = config.teams
    assert (a.digest_to, a.digest_enabled) == (("a-list@example.com", "lead@example.com"), False)
    assert (b.digest_to, b.digest_enabled) == ((), True)


def test_config_load_digest_problems_name_their_lines() -> None:
    text = (
        "teams:\n"  # 1
        "  - name: a\n"  # 2
        "    digest:\n"  # 3
        "      to: [ok@example.com, not-an-address]\n"  # 4
        "      enabled: sometimes\n"  # 5
        "organisation:\n"  # 6
        "  digest:\n"  # 7
        "    cc: [x@example.com]\n"  # 8
    )

    with pytest.raises(ConfigError) as caught:
        config_load(text)

    assert caught.value.errors == [
        "dora.yml:4: teams[0].digest.to[1]: 'not-an-address' is not an e-mail address",
        "dora.yml:5: teams[0].digest.enabled: expected true or false, got 'sometimes'",
        "dora.yml:8: unknown key 'cc' in organisation.digest (expected one of: to)",
    ]
