"""AWS CloudTrail records -> CONTRACT §1 `out_of_band_change` events (pure: no database, no clock).

A record is one API call (docs.aws.amazon.com/awscloudtrail/latest/userguide/
cloudtrail-event-reference-record-contents.html). A change made outside the pipeline is a call
that changed something (a write: `readOnly` false) and succeeded (no `errorCode`), made by a
principal that is not one of the pipeline's roles, in an account the configuration places in an
environment. Everything else is skipped with a reason, never guessed:

- `readOnly` true; a record without `readOnly` (event versions before 1.01) is read-only when its
  `eventName` starts with a read verb (`Get`, `Describe`, `List`, `Head`, `Lookup`, `Search`,
  `BatchGet`).
- `errorCode` present: the call failed and changed nothing.
- `eventType` other than `AwsApiCall` / `AwsConsoleAction` (sign-ins, service events, insights).
- `eventSource` among `ignored_sources` (default STS and sign-in: assuming a role or starting a
  session changes no resource), and calls AWS services make themselves (`userIdentity.type`
  `AWSService`).
- the principal matches a `pipeline_roles` pattern (shell-style, `fnmatch`, case-sensitive): the
  session issuer's ARN (`userIdentity.sessionContext.sessionIssuer.arn`, the role behind an
  assumed-role session) or the identity's own ARN (`userIdentity.arn`).
- the account (`recipientAccountId`, else `userIdentity.accountId`) is not in `accounts`.

Fields: `id` the record's `eventID` (older records have none: a hash of the record), `changed_at`
its `eventTime`, `actor` `userIdentity.arn` (the session's ARN names the person behind a role
session; else the principal id), `what` `<service>:<eventName>` (`ec2:StopInstances`, the
service being `eventSource` without `.amazonaws.com`), `resources` the ARNs of `resources`;
`environment` and `service` from the account, `target` from the region (`awsRegion`) through the
account's `regions` ('' when the account names none for it: the whole environment).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ingest.sources.mapping import Mapped, Skipped, clean, utc_text

DEFAULT_SOURCE = "cloudtrail"
DEFAULT_IGNORED_SOURCES = ("sts.amazonaws.com", "signin.amazonaws.com")
CHANGE_EVENT_TYPES = ("AwsApiCall", "AwsConsoleAction")
READ_VERBS = ("Get", "Describe", "List", "Head", "Lookup", "Search", "BatchGet")


@dataclass(frozen=True)
class AccountPlace:
    """Where an account's changes land: an environment, the service (stack) it runs, and the
    target each region stands for."""

    environment: str
    service: str
    regions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CloudTrailMapping:
    """What the configuration says: the source name, the pipeline's roles, the accounts."""

    accounts: Mapping[str, AccountPlace]
    pipeline_roles: tuple[str, ...] = ()
    source: str = DEFAULT_SOURCE
    ignored_sources: tuple[str, ...] = DEFAULT_IGNORED_SOURCES

    def is_pipeline(self, arns: Iterable[str]) -> str | None:
        """The first pipeline role pattern one of the ARNs matches, or None."""
        for arn in arns:
            for pattern in self.pipeline_roles:
                if arn and fnmatchcase(arn, pattern):
                    return pattern
        return None


def record_key(record: Mapping[str, Any]) -> str:
    """The record's `eventID`; for records without one, a hash of the record itself (stable:
    the same record sent twice is one event)."""
    event_id = record.get("eventID")
    if isinstance(event_id, str) and event_id:
        return event_id
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_only(record: Mapping[str, Any]) -> bool:
    flag = record.get("readOnly")
    if isinstance(flag, bool):
        return flag
    if isinstance(flag, str):  # some exporters write it as text
        return flag.lower() == "true"
    return str(record.get("eventName", "")).startswith(READ_VERBS)


def record_map(record: Mapping[str, Any], mapping: CloudTrailMapping) -> Mapped:
    """One CloudTrail record as at most one `out_of_band_change` event, or why it is skipped."""
    key = record_key(record)
    name = str(record.get("eventName") or "")
    label = f"{name or '(no eventName)'} {key}"

    def skip(reason: str) -> Mapped:
        return Mapped(skipped=(Skipped(incident=label, reason=reason),))

    if not name or not record.get("eventTime"):
        return skip("not a CloudTrail record: it has no eventName or eventTime")
    if _read_only(record):
        return skip("read-only call: it changed nothing")
    if record.get("errorCode"):
        return skip(f"the call failed ({record['errorCode']}): it changed nothing")
    event_type = record.get("eventType")
    if event_type is not None and event_type not in CHANGE_EVENT_TYPES:
        return skip(f"eventType {event_type} is not an API call")
    event_source = str(record.get("eventSource") or "")
    if event_source in mapping.ignored_sources:
        return skip(f"{event_source} calls are ignored (ignored_sources)")
    identity = record.get("userIdentity") or {}
    if identity.get("type") == "AWSService":
        return skip("made by an AWS service, not by a person or a pipeline")
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn", "")
    own = identity.get("arn", "")
    matched = mapping.is_pipeline([issuer, own])
    if matched:
        return skip(f"made by the pipeline (principal matches {matched!r})")
    account = str(record.get("recipientAccountId") or identity.get("accountId") or "")
    place = mapping.accounts.get(account)
    if place is None:
        return skip(f"account {account or '(none)'} is not mapped to an environment (accounts)")
    region = str(record.get("awsRegion") or "")
    actor = own or identity.get("principalId") or identity.get("userName") or "unknown"
    service = event_source.removesuffix(".amazonaws.com") or "aws"
    resources = [
        r["ARN"]
        for r in record.get("resources") or []
        if isinstance(r, Mapping) and isinstance(r.get("ARN"), str)
    ]
    event = clean(
        {
            "type": "out_of_band_change",
            "id": key,
            "source": mapping.source,
            "service": place.service,
            "environment": place.environment,
            "target": place.regions.get(region) or None,
            "changed_at": utc_text(record["eventTime"]),
            "actor": actor,
            "what": f"{service}:{name}",
            "resources": resources or None,
        }
    )
    return Mapped(events=(event,))


def records_map(records: Iterable[Mapping[str, Any]], mapping: CloudTrailMapping) -> Mapped:
    """Many records (a log file's `Records`, or EventBridge deliveries' `detail`s) at once."""
    events: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for record in records:
        if not isinstance(record, Mapping):
            skipped.append(Skipped(incident="(not an object)", reason="a record must be an object"))
            continue
        mapped = record_map(record, mapping)
        events.extend(mapped.events)
        skipped.extend(mapped.skipped)
    return Mapped(events=tuple(events), skipped=tuple(skipped))


def records_of(document: Any) -> list[Any]:
    """The records of what AWS delivers: a log file (`{"Records": [...]}`), an EventBridge event
    (`{"detail-type": "AWS API Call via CloudTrail", "detail": {...}}`), one record, or a list."""
    if isinstance(document, list):
        return [r for item in document for r in records_of(item)]
    if isinstance(document, Mapping):
        if isinstance(document.get("Records"), list):
            return list(document["Records"])
        if isinstance(document.get("detail"), Mapping):
            return [document["detail"]]
        return [document]
    return [document]
