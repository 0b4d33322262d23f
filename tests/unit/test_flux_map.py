"""ingest.sources.flux: events field by field, revisions, ids that ignore the delivery, and the
X-Signature check against Flux's own published vector and the documented algorithm."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.sources.flux.mapper import (
    FluxMapping,
    commit_of,
    deployment_id,
    flux_event,
    is_repeat,
    metadata_value,
    payload_events,
)
from ingest.sources.flux.webhook import flux_signature_valid
from ingest.sources.stacks import stack_rules

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "flux"
FORWARDER_KEY = b"7152fed34dd6149a7c75a276c510da27cb6f82b0"
FORWARDER_SIGNATURE = "sha256=65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7"
MAPPING = FluxMapping(
    rules=stack_rules(
        [
            {
                "match": "Kustomization/apps/webapp",
                "service": "webapp",
                "environment": "production",
            },
            {"match": "HelmRelease/apps/*", "service": "podinfo", "environment": "production"},
            {
                "match": "Kustomization/flux-system/*",
                "service": "platform",
                "environment": "production",
                "as": "automation_run",
            },
        ]
    )
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def test_flux_forwarder_vector_verifies() -> None:
    body = (FIXTURES / "forwarder-test-event.json").read_bytes()
    assert flux_signature_valid(FORWARDER_KEY, body, FORWARDER_SIGNATURE)
    assert flux_signature_valid(FORWARDER_KEY, body, FORWARDER_SIGNATURE.upper())
    assert not flux_signature_valid(FORWARDER_KEY, body + b" ", FORWARDER_SIGNATURE)
    assert not flux_signature_valid(b"another", body, FORWARDER_SIGNATURE)


@pytest.mark.parametrize("name", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_every_documented_hash_is_accepted(name: str) -> None:
    body = b'{"reason":"ReconciliationSucceeded"}'
    digest = hmac.new(b"token", body, getattr(hashlib, name)).hexdigest()
    assert flux_signature_valid(b"token", body, f"{name}={digest}")
    assert not flux_signature_valid(b"token", body, f"{name}={digest[:-1]}0")


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256", "md5=" + hashlib.md5(b"x").hexdigest(), "sha256=zz", "=abc"],  # noqa: S324
)
def test_malformed_signatures_are_refused(header: str | None) -> None:
    assert not flux_signature_valid(b"token", b"x", header)


def test_a_failed_kustomization_from_the_docs_is_a_failed_deployment() -> None:
    [event] = flux_event(fixture("event-kustomization-validation-failed.json"), MAPPING).events
    assert event == {
        "type": "deployment",
        "source": "flux",
        "id": "Kustomization/apps/webapp@main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1:failure",
        "service": "webapp",
        "environment": "production",
        "status": "failure",
        "finished_at": "2022-10-28T07:26:19Z",
        "sha": "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1",  # the older main/<sha> form
    }


def test_a_succeeded_infra_kustomization_is_an_automation_run() -> None:
    rule = {
        "match": "Kustomization/flux-system/*",
        "as": "automation_run",
        "service": "platform",
        "environment": "staging",
        "target": "eu-1",
    }
    mapping = FluxMapping(source="flux-eu", rules=stack_rules([rule]))
    [event] = flux_event(fixture("event-kustomization-succeeded.json"), mapping).events
    assert event == {
        "type": "automation_run",
        "source": "flux-eu",
        "id": "Kustomization/flux-system/apps@main@sha1:69b59063470310ebbd88a9156325322a124e55a3"
        ":success",
        "service": "platform",
        "environment": "staging",
        "target": "eu-1",
        "action": "apply",
        "status": "success",
        "finished_at": "2024-03-05T10:00:40Z",
        "version": "main@sha1:69b59063470310ebbd88a9156325322a124e55a3",
    }


def test_a_failed_helm_upgrade_keeps_the_chart_version_and_its_source_commit() -> None:
    [event] = flux_event(fixture("event-helmrelease-upgrade-failed.json"), MAPPING).events
    assert event == {
        "type": "deployment",
        "source": "flux",
        "id": "HelmRelease/apps/podinfo@6.0.0:failure",
        "service": "podinfo",
        "environment": "production",
        "target": "prod-eu-1",  # the Alert's eventMetadata cluster
        "status": "failure",
        "finished_at": "2024-03-05T11:00:00Z",
        "sha": "5394cb7f48332b2de7c17dd8b8384bbc84b7e738",  # originRevision
        "version": "6.0.0",
    }


def test_the_id_is_the_object_revision_and_outcome_never_the_delivery() -> None:
    first = fixture("event-kustomization-succeeded.json")
    first["involvedObject"].update(namespace="apps", name="webapp")
    later = json.loads(json.dumps(first))
    later.update(timestamp="2024-03-05T10:10:41Z", message="Reconciliation finished in 0.9s")
    failed = json.loads(json.dumps(first))
    failed.update(reason="ReconciliationFailed", severity="error")

    one = flux_event(first, MAPPING).events[0]
    assert one["id"] == (
        "Kustomization/apps/webapp@main@sha1:69b59063470310ebbd88a9156325322a124e55a3:success"
    )
    again = flux_event(later, MAPPING, latest=lambda etype, key: (one["id"], one)).events[0]
    assert again == one  # the repeat keeps the first finished_at: recorded as unchanged
    assert flux_event(failed, MAPPING).events[0]["id"] == one["id"].replace(":success", ":failure")
    assert flux_event(later, MAPPING).events[0]["finished_at"] == "2024-03-05T10:10:41Z"


def test_a_rollback_to_an_earlier_revision_is_a_deployment_of_its_own() -> None:
    # A (rev1 ok), A again, B (rev2 ok), C (rev1 ok: the rollback), C again; `recorded` stands
    # for the stored events: an upsert by id, the latest the last one created.
    recorded: dict[str, dict[str, Any]] = {}

    def latest(etype: str, key: str) -> tuple[str, dict[str, Any]] | None:
        mine = [i for i in recorded if i.startswith(key + "@")]
        return (mine[-1], recorded[mine[-1]]) if mine else None

    def event(revision: str, timestamp: str) -> dict[str, Any]:
        one = fixture("event-kustomization-succeeded.json")
        one["involvedObject"].update(namespace="apps", name="webapp")
        one.update(timestamp=timestamp, metadata={"revision": f"main@sha1:{revision * 40}"})
        mapped = flux_event(one, MAPPING, latest=latest).events[0]
        recorded[mapped["id"]] = mapped
        return mapped

    key = "Kustomization/apps/webapp@main@sha1:"
    a = event("a", "2024-03-05T10:00:00Z")
    a_again = event("a", "2024-03-05T10:05:00Z")
    b = event("b", "2024-03-05T11:00:00Z")
    c = event("a", "2024-03-05T12:00:00Z")
    c_again = event("a", "2024-03-05T12:05:00Z")
    assert [e["id"] for e in (a, a_again, b, c, c_again)] == [
        f"{key}{'a' * 40}:success",
        f"{key}{'a' * 40}:success",
        f"{key}{'b' * 40}:success#2024-03-05T11:00:00Z",
        f"{key}{'a' * 40}:success#2024-03-05T12:00:00Z",
        f"{key}{'a' * 40}:success#2024-03-05T12:00:00Z",
    ]
    assert a_again == a and c_again == c  # the repeats keep the first finished_at
    assert [e["finished_at"] for e in recorded.values()] == [
        "2024-03-05T10:00:00Z",
        "2024-03-05T11:00:00Z",
        "2024-03-05T12:00:00Z",
    ]
    assert [e["sha"] for e in recorded.values()] == ["a" * 40, "b" * 40, "a" * 40]


def test_a_repeat_is_only_the_same_revision_and_outcome_as_the_latest() -> None:
    base = "Kustomization/apps/webapp@main@sha1:abc:success"
    assert is_repeat(base, base) and is_repeat(base, base + "#2024-03-05T12:00:00Z")
    assert not is_repeat(base, base.replace("success", "failure"))
    assert not is_repeat(base, "Kustomization/apps/webapp@main@sha1:abcd:success")
    assert deployment_id(base, "T", None) == (base, {})
    assert deployment_id(base, "T", ("other", {"x": 1})) == (base + "#T", {})
    assert deployment_id(base, "T", (base + "#S", {"x": 1})) == (base + "#S", {"x": 1})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"reason": "Progressing"}, "reason 'Progressing' is not an outcome"),
        ({"reason": "RollbackSucceeded"}, "reason 'RollbackSucceeded' is not an outcome"),
        ({"metadata": {}}, "no revision in its metadata"),
        ({"timestamp": "2024-03-05T10:00:40"}, "unreadable timestamp"),
        ({"timestamp": None}, "no timestamp"),
    ],
)
def test_events_that_are_not_an_outcome_are_skipped(change: dict[str, Any], reason: str) -> None:
    event = {**fixture("event-kustomization-validation-failed.json"), **change}
    mapped = flux_event(event, MAPPING)
    assert mapped.events == ()
    assert mapped.skipped[0].incident == "Kustomization/apps/webapp"
    assert mapped.skipped[0].reason.startswith(reason)


def test_other_kinds_and_unmapped_objects_are_skipped() -> None:
    source_event = json.loads((FIXTURES / "forwarder-test-event.json").read_bytes())
    unmapped = fixture("event-kustomization-validation-failed.json")
    unmapped["involvedObject"]["name"] = "other"
    named_only = fixture("event-kustomization-validation-failed.json")
    named_only["metadata"]["service"] = "web"  # eventMetadata names a service, no environment

    mapped = payload_events([source_event, unmapped, "x"], MAPPING)
    assert mapped.events == ()
    assert [s.reason for s in mapped.skipped] == [
        "a GitRepository event is not a deployment",
        "Kustomization/apps/other matches no rule of the source's stacks:",
        "an item that is not a JSON object",
    ]
    [skip] = flux_event(named_only, FluxMapping()).skipped
    assert skip.reason == "no environment: add a stacks: rule or eventMetadata"


def test_alert_event_metadata_names_the_service_and_environment() -> None:
    event = fixture("event-kustomization-validation-failed.json")
    event["metadata"]["event.toolkit.fluxcd.io/service"] = "shop"
    event["metadata"]["event.toolkit.fluxcd.io/environment"] = "qa"
    [out] = flux_event(event, FluxMapping()).events
    assert (out["service"], out["environment"], out["type"]) == ("shop", "qa", "deployment")


def test_revisions() -> None:
    sha = "a1afe267b54f38b46b487f6e938a6fd508278c07"
    # The cases of notification-controller's TestUtil_ParseRevision.
    assert commit_of(f"sha1:{sha}") == sha
    assert commit_of(f"master@sha1:{sha}") == sha
    assert commit_of(f"environment/dev@sha1:{sha}") == sha
    assert commit_of(f"master/{sha}") == sha
    assert commit_of(f"environment/dev/{sha}") == sha
    assert commit_of("master") is None
    assert commit_of("latest@sha256:" + "ab" * 32) is None  # an OCI digest, not a commit
    assert commit_of("6.0.0") is None
    assert metadata_value({"revision": "r1", "x.io/revision": "r2"}, "revision") == "r1"
    assert metadata_value({"helm.toolkit.fluxcd.io/revision": "6.0.0"}, "revision") == "6.0.0"
    assert metadata_value({"revisionx": "no"}, "revision") is None


def test_an_oci_revision_is_a_version_only() -> None:
    event = fixture("event-kustomization-validation-failed.json")
    event["metadata"] = {"revision": "latest@sha256:" + "ab" * 32}
    [out] = flux_event(event, MAPPING).events
    assert "sha" not in out and out["version"] == "latest@sha256:" + "ab" * 32


def test_forwarded_metadata_without_prefixes_is_read_too() -> None:
    # notification-controller's combineEventMetadata forwards the Alert's eventMetadata keys as
    # they are and strips the object's group from its own keys.
    event = fixture("event-helmrelease-upgrade-failed.json")
    event["metadata"] = {
        "revision": "6.0.1",
        "originRevision": "main@sha1:" + "c" * 40,
        "service": "podinfo",
        "environment": "staging",
        "target": "eu-2",
    }
    [out] = flux_event(event, FluxMapping()).events  # no rule: eventMetadata names it all
    assert (out["environment"], out["target"], out["version"], out["sha"]) == (
        "staging",
        "eu-2",
        "6.0.1",
        "c" * 40,
    )
    assert out["id"] == "HelmRelease/apps/podinfo@6.0.1:failure"
