"""The CloudTrail mapping's configuration (a YAML file, `import_cloudtrail --config`): the
pipeline's roles and which environment, service and target each account and region stand for.

```yaml
source: cloudtrail-prod            # the events' source (default cloudtrail)
pipeline_roles:                    # principals that are the pipeline: shell patterns over ARNs
  - "arn:aws:iam::123456789012:role/deploy-*"
accounts:
  "123456789012": {environment: production, service: network, regions: {us-east-2: use2}}
ignored_sources: [sts.amazonaws.com, signin.amazonaws.com]   # the default
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.sources.cloudtrail.mapper import (
    DEFAULT_IGNORED_SOURCES,
    DEFAULT_SOURCE,
    AccountPlace,
    CloudTrailMapping,
)

_KEYS = ("source", "pipeline_roles", "accounts", "ignored_sources")
_ACCOUNT_KEYS = ("environment", "service", "regions")


class CloudTrailConfigError(ValueError):
    """A mistake in the configuration; the message names the key."""


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CloudTrailConfigError(f"{where}: expected a list of non-empty strings")
    return tuple(value)


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CloudTrailConfigError(f"{where}: expected a non-empty string")
    return value


def cloudtrail_mapping(data: Any) -> CloudTrailMapping:
    """The mapping a configuration describes; CloudTrailConfigError names what is wrong."""
    if not isinstance(data, Mapping):
        raise CloudTrailConfigError("the configuration must be a mapping (source, accounts, ...)")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise CloudTrailConfigError(f"{unknown[0]}: unknown key (allowed: {', '.join(_KEYS)})")
    accounts_data = data.get("accounts")
    if not isinstance(accounts_data, Mapping) or not accounts_data:
        raise CloudTrailConfigError(
            'accounts: required, e.g. {"123456789012": {environment: production, service: network}}'
        )
    accounts = {}
    for account, place in accounts_data.items():
        where = f"accounts.{account}"
        account = str(account)
        if not (account.isascii() and account.isdigit() and len(account) == 12):
            raise CloudTrailConfigError(f"{where}: an AWS account id is 12 digits (quote it)")
        if not isinstance(place, Mapping):
            raise CloudTrailConfigError(f"{where}: expected {{environment, service, regions}}")
        unknown = sorted(set(place) - set(_ACCOUNT_KEYS))
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
        source=_text("source", data.get("source", DEFAULT_SOURCE)),
        ignored_sources=_strings(
            "ignored_sources", data.get("ignored_sources", list(DEFAULT_IGNORED_SOURCES))
        ),
    )
