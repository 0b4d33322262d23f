"""`sources:` of kind github with a GitHub App (app_id, installation_id, private_key_env/_file)
and org discovery (include, exclude, include_archived, include_forks): read, each mistake named
with its line."""

from __future__ import annotations

import pytest

from dora.config import ConfigError, config_load

APP = "sources:\n  - name: gh\n    kind: github\n    app_id: 42\n"


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_load(text)
    return info.value.errors


def test_github_app_source_reads_the_app_and_discovery_keys() -> None:
    (spec,) = config_load(
        APP
        + "    private_key_env: ACME_APP_KEY\n"
        + "    org: acme\n"
        + "    include: [svc-*, web]\n"
        + "    exclude: ['*-sandbox']\n"
        + "    include_forks: true\n"
    ).sources
    assert (spec.app_id, spec.private_key_env, spec.installation_id) == (42, "ACME_APP_KEY", None)
    assert spec.token_env is None and spec.private_key_file is None
    assert (spec.include, spec.exclude) == (("svc-*", "web"), ("*-sandbox",))
    assert (spec.include_forks, spec.include_archived) == (True, None)
    (fixed,) = config_load(
        APP + "    private_key_file: /run/secrets/app.pem\n"
        "    installation_id: 7\n    repos: [acme/web]\n"
    ).sources
    assert (fixed.private_key_file, fixed.installation_id, fixed.repos) == (
        "/run/secrets/app.pem",
        7,
        ("acme/web",),
    )


def test_github_app_source_mistakes_name_their_lines() -> None:
    assert errors(APP + "    token_env: GITHUB_TOKEN\n    private_key_env: K\n    org: acme\n") == [
        "dora.yml:5: sources[0]: give token_env (a token) or app_id (a GitHub App), not both"
    ]
    assert errors(APP + "    org: acme\n") == [
        "dora.yml:4: sources[0]: a GitHub App needs its private key: private_key_env (the "
        "variable holding the PEM) or private_key_file"
    ]
    assert errors(APP + "    private_key_env: K\n    private_key_file: k.pem\n    org: acme\n") == [
        "dora.yml:6: sources[0]: give private_key_env or private_key_file, not both"
    ]
    assert errors(APP + "    private_key_env: K\n    repos: [acme/web]\n") == [
        "dora.yml:4: sources[0]: with repos, a GitHub App needs installation_id (only an org's "
        "installation can be looked up)"
    ]
    token = "sources:\n  - name: gh\n    kind: github\n    token_env: T\n"
    assert errors(token + "    org: acme\n    installation_id: 7\n") == [
        "dora.yml:6: sources[0].installation_id: only with app_id (a github source's GitHub App)"
    ]
    assert errors(token + "    repos: [acme/web]\n    include: [web]\n") == [
        "dora.yml:6: sources[0].include: chooses among an org's repositories (a github source "
        "with org)"
    ]
    gitlab = "sources:\n  - name: gl\n    kind: gitlab\n    token_env: T\n    group: acme\n"
    assert errors(gitlab + "    app_id: 42\n") == [
        "dora.yml:6: sources[0].app_id: only a github source names a GitHub App"
    ]
    assert errors("sources:\n  - name: gh\n    kind: github\n    org: acme\n")[0].endswith(
        "(e.g. GITHUB_TOKEN), never the token itself (or app_id and private_key_env: a GitHub App)"
    )
