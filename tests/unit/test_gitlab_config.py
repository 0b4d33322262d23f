"""`sources:` entries of kind gitlab: projects / group read, each mistake named with its line;
and the provider's own check (ingest.sources.gitlab.config) of a spec built another way."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dora.config import ConfigError, SourceSpec, config_load
from ingest.sources.gitlab.config import gitlab_config_problems

HEAD = "sources:\n  - name: gl\n    kind: gitlab\n    token_env: GITLAB_TOKEN\n"


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_load(text)
    return info.value.errors


def test_gitlab_source_reads_projects_group_and_the_github_keys() -> None:
    (spec,) = config_load(
        HEAD
        + "    base_url: https://gitlab.example.com\n"
        + "    projects: [acme/web, acme/platform/api]\n"
        + "    interval: 10m\n"
        + "    backfill: 30d\n"
        + "    webhook_secret_env: GL_HOOK\n"
        + "    deployments: {from: [deployments_api, tags], tag_pattern: '^v'}\n"
        + "    incidents: {label: outage}\n"
    ).sources
    assert spec.kind == "gitlab" and spec.projects == ("acme/web", "acme/platform/api")
    assert spec.group is None and spec.org is None and spec.repos == ()
    assert (spec.interval, spec.backfill) == (timedelta(minutes=10), timedelta(days=30))
    assert spec.webhook_secret_env == "GL_HOOK" and spec.incidents.label == "outage"
    assert spec.deployments.from_ == ("deployments_api", "tags")
    (grouped,) = config_load(HEAD + "    group: acme\n").sources
    assert grouped.group == "acme" and grouped.projects == ()


def test_gitlab_source_mistakes_name_their_lines() -> None:
    assert errors(HEAD) == [
        "dora.yml:2: sources[0]: give group (every project of it) or projects: [group/project]"
    ]
    assert errors(HEAD + "    group: acme\n    projects: [acme/web]\n") == [
        "dora.yml:6: sources[0]: give group or projects, not both (group reads every project of it)"
    ]
    assert errors(HEAD + "    projects: [acme/web, web]\n") == [
        "dora.yml:5: sources[0].projects[1]: 'web' is not group/project"
    ]
    assert errors(HEAD + "    repos: [acme/web]\n") == [
        "dora.yml:2: sources[0]: give group (every project of it) or projects: [group/project]",
        "dora.yml:5: sources[0].repos: a gitlab source names projects, not repos",
    ]
    github = "sources:\n  - name: gh\n    kind: github\n    token_env: T\n    org: acme\n"
    assert errors(github + "    projects: [acme/web]\n") == [
        "dora.yml:6: sources[0].projects: only a gitlab source names projects (use org or repos)"
    ]


def test_gitlab_provider_check_of_a_spec_built_another_way() -> None:
    assert gitlab_config_problems(SourceSpec(name="gl", kind="gitlab", group="acme")) == []
    assert gitlab_config_problems(SourceSpec(name="gl", kind="gitlab")) == [
        "sources.gl: give group (every project of it) or projects: [group/project]"
    ]
    assert gitlab_config_problems(SourceSpec(name="gl", kind="gitlab", repos=("a/b",))) == [
        "sources.gl: a gitlab source names group or projects, not org or repos"
    ]
    assert gitlab_config_problems(
        SourceSpec(name="gl", kind="gitlab", projects=("a/b/c", "nope"))
    ) == ["sources.gl.projects[1]: 'nope' is not group/project"]
