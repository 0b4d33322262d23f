"""ingest.sources.registry: providers found by kind, a clear error naming the known kinds."""

from __future__ import annotations

import importlib
import types

import pytest

from dora.config import CloudTrailAccountSpec, SourceSpec
from ingest.sources import registry
from ingest.sources.registry import (
    Provider,
    UnknownProvider,
    provider_for,
    provider_kinds,
    providers_load,
    register,
)


@pytest.fixture
def own_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Provider]:
    """A copy of the registry (every package loaded first), restored after the test."""
    providers_load()
    copy = dict(registry.PROVIDERS)
    monkeypatch.setattr(registry, "PROVIDERS", copy)
    return copy


def test_github_is_found_by_its_kind() -> None:
    github = provider_for("github")

    assert (github.kind, github.label) == ("github", "GitHub")
    assert github.mapper is importlib.import_module("ingest.sources.github.mapper")
    assert github.webhook is not None and github.sync is not None
    assert github.config_check is not None
    assert "github" in provider_kinds()


def test_cloudtrail_is_a_webhook_only_kind_with_a_config_check() -> None:
    cloudtrail = provider_for("cloudtrail")

    assert (cloudtrail.kind, cloudtrail.label) == ("cloudtrail", "AWS CloudTrail")
    assert cloudtrail.mapper is importlib.import_module("ingest.sources.cloudtrail.mapper")
    assert cloudtrail.webhook is not None and cloudtrail.sync is None  # nothing is polled
    assert cloudtrail.config_check is not None


def test_an_unknown_kind_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(UnknownProvider) as raised:
        provider_for("nope")

    assert raised.value.kind == "nope"
    assert "github" in raised.value.known
    assert str(raised.value).startswith("No source provider of kind 'nope'; known kinds: ")
    assert "github" in str(raised.value)


def test_a_registered_provider_is_found_by_kind(own_registry: dict[str, Provider]) -> None:
    mapper = types.ModuleType("example_mapper")
    example = Provider(kind="example", label="Example", mapper=mapper)

    assert register(example) is example
    assert provider_for("example") is example
    assert "example" in provider_kinds() and "github" in provider_kinds()


def test_registering_a_kind_twice_with_another_provider_raises(
    own_registry: dict[str, Provider],
) -> None:
    mapper = types.ModuleType("example_mapper")
    register(Provider(kind="example", label="Example", mapper=mapper))
    register(Provider(kind="example", label="Example", mapper=mapper))  # the same: harmless

    with pytest.raises(ValueError, match="'example' is already registered"):
        register(Provider(kind="example", label="Other", mapper=mapper))


def test_the_old_import_paths_are_the_moved_modules() -> None:
    from ingest.sources import github_map, github_webhook
    from ingest.sources.github import mapper, webhook

    assert github_map is mapper
    assert github_webhook is webhook


@pytest.mark.parametrize(
    ("org", "repos", "problems"),
    [
        ("acme", (), []),
        (None, ("acme/shop", "acme/api"), []),
        (None, (), ["sources.g: give org (every repository of it) or repos: [owner/name]"]),
        (
            "acme",
            ("acme/shop",),
            ["sources.g: give org or repos, not both (org reads every repository of it)"],
        ),
        (None, ("acme/shop", "shop"), ["sources.g.repos[1]: 'shop' is not owner/name"]),
    ],
)
def test_the_github_config_check(
    org: str | None, repos: tuple[str, ...], problems: list[str]
) -> None:
    check = provider_for("github").config_check
    assert check is not None

    spec = SourceSpec(name="g", kind="github", token_env="T", org=org, repos=repos)

    assert list(check(spec)) == problems


def test_the_cloudtrail_config_check_names_the_source() -> None:
    check = provider_for("cloudtrail").config_check
    assert check is not None
    place = CloudTrailAccountSpec("123456789012", "production", "network")

    assert list(check(SourceSpec(name="ct", kind="cloudtrail", accounts=(place,)))) == []
    assert list(check(SourceSpec(name="ct", kind="cloudtrail"))) == [
        'sources.ct.accounts: required, e.g. {"123456789012": {"environment": "production", '
        '"service": "network"}}'
    ]
