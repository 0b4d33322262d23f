"""A cloudtrail source's mapping as its Source row keeps it (the `cloudtrail` column, written by
apply_config from the `sources:` entry): the pipeline's roles and which environment, service and
target each account and region stand for.

```yaml
sources:
  - name: cloudtrail-prod            # the events' source
    kind: cloudtrail
    pipeline_roles:                  # principals that are the pipeline: shell patterns over ARNs
      - "arn:aws:iam::123456789012:role/deploy-*"
    accounts:
      "123456789012": {environment: production, service: network, regions: {us-east-2: use2}}
    ignored_sources: [sts.amazonaws.com, signin.amazonaws.com]   # the default
    webhook_secret_env: DORA_CLOUDTRAIL_WEBHOOK_SECRET           # the default
```

Stored as `{"pipeline_roles": [...], "accounts": {"<id>": {environment, service, regions}},
"ignored_sources": [...]}` (ignored_sources only when the file gives it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.sources.cloudtrail.mapper import (
    DEFAULT_IGNORED_SOURCES,
    AccountPlace,
    CloudTrailMapping,
)

KEYS = ("pipeline_roles", "accounts", "ignored_sources")
ACCOUNT_KEYS = ("environment", "service", "regions")


class CloudTrailConfigError(ValueError):
    """A mistake in the stored mapping; the message names the key."""


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CloudTrailConfigError(f"{where}: expected a list of non-empty strings")
    return tuple(value)


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CloudTrailConfigError(f"{where}: expected a non-empty string")
    return value


def cloudtrail_mapping(data: Any, source: str) -> CloudTrailMapping:
    """The mapping a stored `cloudtrail` value describes, its events' source being `source`;
    CloudTrailConfigError names what is wrong."""
    if not isinstance(data, Mapping):
        raise CloudTrailConfigError("expected a mapping (pipeline_roles, accounts, ...)")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise CloudTrailConfigError(f"{unknown[0]}: unknown key (allowed: {', '.join(KEYS)})")
    accounts_data = data.get("accounts")
    if not isinstance(accounts_data, Mapping) or not accounts_data:
        raise CloudTrailConfigError(
            'accounts: required, e.g. {"123456789012": {"environment": "production", '
            '"service": "network"}}'
        )
    accounts = {}
    for account, place in accounts_data.items():
        where = f"accounts.{account}"
        account = str(account)
        if not (account.isascii() and account.isdigit() and len(account) == 12):
            raise CloudTrailConfigError(f"{where}: an AWS account id is 12 digits (quote it)")
        if not isinstance(place, Mapping):
            raise CloudTrailConfigError(f"{where}: expected {{environment, service, regions}}")
        unknown = sorted(set(place) - set(ACCOUNT_KEYS))
        if unknown:
            raise CloudTrailConfigError(f"{where}.{unknown[0]}: unknown key")
        regions = place.get("regions") or {}
        if not isinstance(regions, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in regions.items()
        ):
            raise CloudTrailConfigError(f"{where}.regions: expected {{region: target}}")
        accounts[account] = AccountPlace(
            environment=_text(f"{where}.environment", place.get("environment")),
            service=_text(f"{where}.service", place.get("service")),
            regions=dict(regions),
        )
    return CloudTrailMapping(
        accounts=accounts,
        pipeline_roles=_strings("pipeline_roles", data.get("pipeline_roles", [])),
        source=_text("source", source),
        ignored_sources=_strings(
            "ignored_sources", data.get("ignored_sources", list(DEFAULT_IGNORED_SOURCES))
        ),
    )


def cloudtrail_problems(data: Any, where: str = "cloudtrail") -> list[str]:
    """What is wrong with a stored `cloudtrail` value; empty when nothing."""
    try:
        cloudtrail_mapping(data, "cloudtrail")
    except CloudTrailConfigError as exc:
        return [f"{where}.{exc}"]
    return []


def spec_cloudtrail(spec: Any) -> dict[str, Any]:
    """A dora.config.SourceSpec's pipeline_roles, accounts and ignored_sources as the Source
    row keeps them."""
    value: dict[str, Any] = {
        "pipeline_roles": list(spec.pipeline_roles),
        "accounts": {
            account.account: {
                "environment": account.environment,
                "service": account.service,
                **({"regions": dict(account.regions)} if account.regions else {}),
            }
            for account in spec.accounts
        },
    }
    if spec.ignored_sources is not None:
        value["ignored_sources"] = list(spec.ignored_sources)
    return value


def cloudtrail_source_config_problems(spec: Any) -> list[str]:
    """The provider check (registry ConfigCheck) of a `sources:` entry of kind cloudtrail: its
    mapping as it would be stored."""
    return cloudtrail_problems(spec_cloudtrail(spec), f"sources.{spec.name}")


def cloudtrail_source_mapping(name: str) -> CloudTrailMapping | None:
    """The mapping of the cloudtrail source named `name` (its events' source is that name);
    None when there is no such source. CloudTrailConfigError when its row is wrong (the
    admin's clean() refuses that; a hand-edited row can still be)."""
    from ingest.models import Source

    data = (
        Source.objects.filter(kind="cloudtrail", name=name).values_list("cloudtrail", flat=True)
    ).first()
    if data is None:
        return None
    return cloudtrail_mapping(data, name)
