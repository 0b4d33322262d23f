"""A team's `alerts:` channels in the configuration file (dora.config.alerts): what parses, and
the line-numbered error of what does not (secrets and Slack URLs never in the file)."""

from __future__ import annotations

import pytest

from dora.config import ConfigError, config_load
from dora.config.spec import AlertChannelSpec


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_load(text)
    return info.value.errors


def _team(alerts: str) -> str:
    return "teams:\n  - name: payments\n    alerts:\n" + alerts


def test_alerts_parse_email_slack_and_webhook_channels_in_file_order() -> None:
    config = config_load(
        _team(
            "      - slack: {webhook_url_env: SLACK_PAYMENTS}\n"  # line 4
            "      - email: [oncall@example.com, lead@example.com]\n"
            "      - email: solo@example.com\n"
            "      - webhook: {url: 'https://hooks.example.com/dora', secret_env: HOOK_KEY}\n"
            "      - webhook: {url_env: HOOK_URL}\n"
        )
    )

    assert config.teams[0].alerts == (
        AlertChannelSpec(kind="slack", url_env="SLACK_PAYMENTS"),
        AlertChannelSpec(kind="email", addresses=("oncall@example.com", "lead@example.com")),
        AlertChannelSpec(kind="email", addresses=("solo@example.com",)),
        AlertChannelSpec(
            kind="webhook", url="https://hooks.example.com/dora", secret_env="HOOK_KEY"
        ),
        AlertChannelSpec(kind="webhook", url_env="HOOK_URL"),
    )
    assert config.teams[0].alerts[0].line == 4


def test_alerts_left_out_keep_the_teams_channels_and_an_empty_list_removes_them() -> None:
    assert config_load("teams:\n  - name: payments\n").teams[0].alerts is None
    assert (
        config_load(_team("      []\n").replace("alerts:\n      []", "alerts: []")).teams[0].alerts
        == ()
    )


@pytest.mark.parametrize(
    ("alerts", "error"),
    [
        (
            "      - slack: https://hooks.slack.com/services/T0/B0/xyz\n",
            "dora.yml:4: teams[0].alerts[0].slack: a Slack incoming webhook URL is a secret",
        ),
        (
            "      - slack: {webhook_url: 'https://hooks.slack.com/services/T0/B0/xyz'}\n",
            "dora.yml:4: teams[0].alerts[0].slack: a Slack incoming webhook URL is a secret",
        ),
        (
            "      - webhook: {url: 'https://hooks.slack.com/services/T0/B0/xyz'}\n",
            "dora.yml:4: teams[0].alerts[0].webhook.url: a Slack incoming webhook URL is a secret",
        ),
        (
            "      - webhook: {url: 'https://h.example.com/x', secret: abc}\n",
            "dora.yml:4: secret 'secret' in teams[0].alerts[0].webhook: secrets are never",
        ),
        (
            "      - webhook: {url: 'https://h.example.com/x', url_env: HOOK}\n",
            "dora.yml:4: teams[0].alerts[0].webhook: give exactly one of url or url_env",
        ),
        (
            "      - slack: {webhook_url_env: xoxb-123-abc}\n",
            "dora.yml:4: teams[0].alerts[0].slack.webhook_url_env: 'xoxb-123-abc' is not an "
            "environment variable name",
        ),
        (
            "      - email: [not-an-address]\n",
            "dora.yml:4: teams[0].alerts[0].email: 'not-an-address' is not an email address",
        ),
        (
            "      - pager: {to: x}\n",
            "dora.yml:4: unknown key 'pager' in teams[0].alerts[0] (expected one of: email, "
            "slack, webhook)",
        ),
        (
            "      - email: [a@example.com]\n      - email: [a@example.com]\n",
            "dora.yml:5: teams[0].alerts: this channel is already listed on line 4",
        ),
    ],
)
def test_alerts_errors_name_the_line_and_what_to_fix(alerts: str, error: str) -> None:
    [message] = _errors(_team(alerts))

    assert message.startswith(error), message
